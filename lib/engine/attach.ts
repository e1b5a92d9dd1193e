/**
 * `jobs.attach()`: a kernel finds the detached jobs of its notebook kept in
 * the cluster's store (started by an earlier kernel, maybe SIGKILLed) and
 * makes each a real {@linkcode Job} of this kernel again: its events read
 * from the first, so its status, output, progress, shared values, result or
 * error are as they were, a code job's exports land in the notebook, and
 * `kill()` asks its runner.
 *
 * @module
 */
import type { DetachedRecord } from "../cluster/detached_store.ts";
import type { ClusterBackend } from "../cluster/cluster_backend.ts";
import type { DetachedStore } from "../cluster/detached_store.ts";
import type { KeptEvents } from "../cluster/events.ts";
import { receiveRestored } from "../capture/capture.ts";
import { type Job, jobLabel, type JobState, makeJob } from "./job_state.ts";
import { jobList } from "./job_list.ts";
import { JobError } from "./errors.ts";
import { answerAnalysis, appendOutput, receiveEvent } from "./drive.ts";
import { settle } from "./receive.ts";
import {
  detachedJobsMayExist,
  detachedLink,
  keep,
  notebookKey,
} from "./detached.ts";

/** How long `attach()` waits for a job's kept events to be read, in ms. */
const CATCH_UP_MS = 60_000;

/**
 * Finds this notebook's detached jobs that this kernel does not list yet,
 * and lists them (new ids), each followed from its first event.
 *
 * @returns The jobs found, with their states, once the events kept so far
 * are read (a finished job is settled then).
 * @throws {Error} When the cluster cannot be reached.
 */
export function attachJobs(): Promise<[Job<unknown>, JobState][]> {
  // One at a time: a second one lists only what the first did not.
  const next = attaching.then(attachOnce);
  attaching = next.catch(() => {});
  return next;
}

let attaching: Promise<unknown> = Promise.resolve();

async function attachOnce(): Promise<[Job<unknown>, JobState][]> {
  if (!detachedJobsMayExist()) return [];
  const { backend, store } = await detachedLink();
  const notebook = await notebookKey();
  const known = new Set(jobList.list().map((j) => j.uuid));
  const found: [Job<unknown>, JobState][] = [];
  const caughtUp: Promise<void>[] = [];
  const modules = new Set<JobState>();
  const records = (await store.list(notebook))
    .filter((record) => !known.has(record.uuid));
  const kept = await store.kept(records);
  for (const record of records) {
    const [job, state] = makeJob(jobList.nextId(), record.name, record.uuid);
    jobList.add(job, record.source);
    keep(state, store, notebook, record);
    if (record.kind === "module") modules.add(state);
    const ready = Promise.withResolvers<void>();
    caughtUp.push(ready.promise);
    const events = kept.get(record.rid);
    follow(job.id, state, { backend, store, record, events }, ready.resolve);
    found.push([job, state]);
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(caughtUp),
    new Promise((r) => timer = setTimeout(r, CATCH_UP_MS)),
  ]);
  clearTimeout(timer);
  for (const [job, state] of found) {
    if (modules.has(state)) sayWritten(job, state);
  }
  return found;
}

// A code job's exports written into the notebook are said, never silent.
function sayWritten(job: Job<unknown>, state: JobState): void {
  const result = state.result;
  if (state.status !== "completed" || !result || typeof result !== "object") {
    return;
  }
  const written = Object.keys(result).filter((name) =>
    name !== "default" && name in state.exports &&
    !state.warnings.some((w) => w.startsWith(`Export "${name}" was not`))
  );
  if (written.length > 0) {
    console.log(
      `${jobLabel(job.id, job.name)}: its exports ${
        written.join(", ")
      } are in the notebook`,
    );
  }
}

interface Kept {
  backend: ClusterBackend;
  store: DetachedStore;
  record: DetachedRecord;
  /** Its events read already, with those of the other jobs found. */
  events?: KeptEvents;
}

async function follow(
  id: number,
  state: JobState,
  { backend, store, record, events }: Kept,
  caughtUp: () => void,
): Promise<void> {
  const receiver = { kind: record.kind, receive: receiveRestored };
  const runtime = backend.reattach(record.runner, record.rid);
  state.where = runtime.where;
  state.attempt = record.attempt;
  state.start();
  state.startedAt = state.attempts.at(-1)!.startedAt = record.startedAt;
  let stopped: Error | undefined;
  state.stop = async (error) => {
    stopped = error;
    await runtime.kill();
    state.fail(error, "killed");
  };
  try {
    const seq = events?.seq ?? await store.lastEvent(record.rid);
    const end = await runtime.follow(
      {
        onOutput: (text) => appendOutput(state, text),
        onMessage: (msg) => {
          if (msg.t === "analyze") return answerAnalysis(runtime, msg);
          receiveEvent(state, msg, receiver);
        },
      },
      { seq, then: caughtUp },
      events,
    );
    if (stopped) return state.fail(stopped, "killed");
    const context = { id, name: record.name, options: {} };
    const failure = settle(state, end, context, receiver);
    if (failure) state.fail(failure.error);
    // It ended then, not when this kernel read it.
    const endedAt = runtime.endedAt;
    const last = state.attempts.at(-1);
    if (endedAt !== undefined && last) {
      state.endedAt = last.endedAt = Math.max(endedAt, record.startedAt);
      state.changed();
    }
  } catch (error) {
    state.fail(
      new JobError(
        `${jobLabel(id, record.name)} could not be followed: ${
          (error as Error).message
        }`,
        { cause: error },
      ),
    );
  } finally {
    caughtUp();
  }
}
