/**
 * Dependencies (`after`): which jobs a job may run after, waiting for them,
 * and handing their results to its function as arguments, encoded as
 * captured notebook values are, so they reach a local or a cluster runtime
 * the same way.
 *
 * @module
 */
import { encodeForJob } from "../capture/capture.ts";
import type { Packet } from "../codec/packet.ts";
import { JobError } from "./errors.ts";
import { Job, jobLabel } from "./job_state.ts";
import { jobList } from "./job_list.ts";

/**
 * Checks a job's `after`: an array of jobs of this kernel's registry, each
 * listed once. A job can only list jobs made before it, so dependencies
 * never form a cycle.
 *
 * @param after The option as given.
 * @throws {TypeError} On anything else, saying what to pass.
 */
export function checkAfter(after: unknown): void {
  if (after === undefined) return;
  if (!Array.isArray(after)) {
    throw new TypeError(
      `Cannot use after: ${
        describe(after)
      } is not an array; pass an array of jobs, e.g. { after: [j1, j2] }`,
    );
  }
  const seen = new Set<Job<unknown>>();
  after.forEach((dependency: unknown, i) => {
    if (!(dependency instanceof Job)) {
      throw new TypeError(
        `Cannot use after[${i}]: ${
          describe(dependency)
        } is not a job; list jobs made by job() or jobs.map()`,
      );
    }
    const label = jobLabel(dependency.id, dependency.name);
    if (jobList.get(dependency.id) !== dependency) {
      throw new TypeError(
        `Cannot use after[${i}]: ${label} is not in jobs (it was removed); await it and pass its result as a value instead`,
      );
    }
    if (seen.has(dependency)) {
      throw new TypeError(
        `Cannot use after: ${label} is listed twice; list each job once`,
      );
    }
    seen.add(dependency);
  });
}

// `Job 1 (a)`, `a Promise`, `number 42`: what a wrong `after` holds.
function describe(value: unknown): string {
  if (value instanceof Job) return jobLabel(value.id, value.name);
  if (value === null || value === undefined) return String(value);
  if (typeof value === "object") {
    const tag = Object.prototype.toString.call(value).slice(8, -1);
    return `${/^[AEIOU]/.test(tag) ? "an" : "a"} ${tag}`;
  }
  return `${typeof value} ${String(value)}`;
}

/**
 * What waiting for a job's `after` jobs came to: their results as its
 * function's arguments; or the error the job fails with (one failed or was
 * killed, or a result cannot be sent); or `undefined` when the job was
 * stopped meanwhile.
 */
export type Dependencies = { args: Packet } | { error: JobError } | undefined;

/**
 * Waits until every job of `after` has completed, or one has failed or been
 * killed (then at once, without waiting for the others).
 *
 * @param label How messages name the waiting job.
 * @param after The jobs it runs after, in the order of its arguments.
 * @param stopped Resolves when the waiting job is stopped.
 * @returns Their results encoded, the error, or `undefined` when stopped.
 */
export async function awaitDependencies(
  label: string,
  after: readonly Job<unknown>[],
  stopped: Promise<void>,
): Promise<Dependencies> {
  const oneFailed = new Promise<void>((resolve) => {
    for (const dependency of after) {
      dependency.done.then((status) => status === "completed" || resolve());
    }
  });
  const allDone = Promise.all(after.map((dependency) => dependency.done));
  const ready = await Promise.race([
    Promise.race([oneFailed, allDone]).then(() => true),
    stopped.then(() => false),
  ]);
  if (!ready) return undefined;
  const failed = after.find((d) =>
    d.status === "failed" || d.status === "killed"
  );
  if (failed) {
    const how = failed.status === "killed" ? "was killed" : "failed";
    return {
      error: new JobError(
        `${label} did not start: its dependency ${
          jobLabel(failed.id, failed.name)
        } ${how}`,
        { cause: failed.error },
      ),
    };
  }
  const results = after.map((dependency) => dependency.result);
  try {
    return { args: encodeForJob(results, "after") };
  } catch (error) {
    const index = results.findIndex((result, i) => {
      try {
        encodeForJob(result, `after[${i}]`);
        return false;
      } catch {
        return true;
      }
    });
    const dependency = after[Math.max(0, index)];
    return {
      error: new JobError(
        `${label} did not start: the result of its dependency ${
          jobLabel(dependency.id, dependency.name)
        } cannot be sent to it: ${(error as Error).message}`,
        { cause: error },
      ),
    };
  }
}
