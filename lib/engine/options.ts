/**
 * The options of a job, checked before anything starts.
 *
 * @module
 */
import type { JobPermissions } from "../sandbox/permissions.ts";
import type { Job } from "./job_state.ts";
import { checkAfter } from "./after.ts";

/** How a job is tried again; `retries: n` is `{ max: n }`. */
export interface RetryOptions {
  /** Retries at most: the job runs at most `max + 1` times. */
  max: number;
  /**
   * Milliseconds before the first retry, doubled before each next one (up to
   * a minute, or `backoff` itself when that is longer).
   *
   * @default {100}
   */
  backoff?: number;
}

/** Options of {@linkcode job}. */
export interface JobOptions {
  /**
   * Label shown in panels and tables.
   *
   * @default {the function or code text, shortened}
   */
  name?: string;
  /**
   * What the job runtime may do: `"inherit"` (what the kernel has),
   * `"none"`, or Deno's object form `{ read, write, net, env, run, ffi, sys,
   * import }`, each `true` or a list of paths, hosts, variables or commands.
   *
   * @default {"inherit"}
   */
  permissions?: JobPermissions;
  /**
   * Milliseconds the job may run, counted from its first start (not while it
   * waits or is queued before), over all its attempts and the pauses between;
   * past it the job is killed and fails with a `JobTimeoutError`, and is not
   * retried.
   *
   * @default {undefined}
   */
  timeout?: number;
  /**
   * Heap cap of the job runtime in MB; a job over it fails with an
   * out-of-memory `JobError` and the kernel lives on.
   *
   * @default {Deno's default}
   */
  memory?: number;
  /**
   * Aborting this signal kills the job.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Show the live panel in the launching cell.
   *
   * @default {true inside a notebook}
   */
  display?: boolean;
  /**
   * Where the job runs: `"local"`, a job runtime on this machine, or
   * `"cluster"`, a runner of the cluster set with
   * `jobs.configure({ cluster })`. There, `"inherit"` permissions mean what
   * the runner allows (its `--max-permissions`).
   *
   * @default {"local"}
   */
  on?: "local" | "cluster";
  /**
   * Run the job again when an attempt fails for a reason `retryOn` names:
   * `n` retries, or `{ max, backoff }`. Never after a kill, an aborted
   * `signal` or a `timeout` (which covers all attempts together). Each
   * attempt is kept in `job.attempts`.
   *
   * @default {0}
   */
  retries?: number | RetryOptions;
  /**
   * Which failures `retries` reruns: `"died"`, when the job's runtime or
   * runner died under it (a signal from outside, an exit before the job
   * finished, a runner that stopped answering); `"error"`, also when the
   * job threw or ran out of memory.
   *
   * @default {"died"}
   */
  retryOn?: "died" | "error";
  /**
   * Jobs to wait for: the job stays `"waiting"` until all have completed,
   * and its function gets their results as arguments, in this order
   * (`job((a, b) => a + b, { after: [j1, j2] })`). One that fails or is
   * killed fails this job with a `JobError` whose `cause` is that job's
   * error. Only jobs that exist already can be listed, so dependencies
   * cannot form a cycle. Function jobs only.
   *
   * @default {[]}
   */
  after?: readonly Job<unknown>[];
  /**
   * Keep running when the kernel exits, restarts or is killed: the job runs
   * on the configured cluster, or, without one, on the durable local
   * cluster (a `nats-server` and a runner on this machine that outlive the
   * kernel). Its status, output, progress, exports and result are kept in
   * the cluster's store until `jobs.remove()` or the retention time
   * (`jobs.configure({ retention })`), and a later kernel of the same
   * notebook gets it back with `await jobs.attach()`. Implies
   * `on: "cluster"`; its `timeout` and `signal` hold only while this kernel
   * lives.
   *
   * @default {false}
   */
  detached?: boolean;
}

const KNOWN = new Set([
  "name",
  "permissions",
  "timeout",
  "memory",
  "signal",
  "display",
  "on",
  "retries",
  "retryOn",
  "after",
  "detached",
]);

/**
 * Checks a job's options and returns them.
 *
 * @param options The options as given.
 * @returns The same options, known to be well formed.
 * @throws {TypeError} On an unknown option or one of the wrong type, or
 * `after` holding anything but jobs of this kernel, each once.
 * @throws {RangeError} On a timeout, memory cap or retry count out of range.
 * @example Usage
 * ```ts
 * import { checkJobOptions } from "./options.ts";
 * console.log(checkJobOptions({ retries: 2 })); // { retries: 2 }
 * ```
 */
export function checkJobOptions(options: unknown): JobOptions {
  if (options === undefined) return {};
  if (
    typeof options !== "object" || options === null || Array.isArray(options)
  ) {
    throw new TypeError(
      `Cannot use job options ${
        String(options)
      }: pass an object like { timeout: 5000 }`,
    );
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key)) {
      throw new TypeError(
        `Unknown job option "${key}": use one of ${[...KNOWN].join(", ")}`,
      );
    }
  }
  if (o.name !== undefined && typeof o.name !== "string") {
    throw new TypeError(`Cannot use name ${String(o.name)}: pass a string`);
  }
  checkNumber("timeout", o.timeout, 1, 2 ** 31 - 1, "milliseconds");
  checkNumber("memory", o.memory, 16, 1024 * 1024, "MB");
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new TypeError(`Cannot use signal: pass an AbortSignal`);
  }
  if (o.on !== undefined && o.on !== "local" && o.on !== "cluster") {
    throw new TypeError(
      `Cannot run a job on ${JSON.stringify(o.on)}: pass "local" or "cluster"`,
    );
  }
  if (o.display !== undefined && typeof o.display !== "boolean") {
    throw new TypeError(
      `Cannot use display ${String(o.display)}: pass true or false`,
    );
  }
  if (o.detached !== undefined && typeof o.detached !== "boolean") {
    throw new TypeError(
      `Cannot use detached ${String(o.detached)}: pass true or false`,
    );
  }
  if (o.detached && o.on === "local") {
    throw new TypeError(
      'Cannot run a detached job on: "local": a detached job runs on a cluster (the configured one, or the durable local one); drop on: "local"',
    );
  }
  checkRetries(o.retries);
  if (o.retryOn !== undefined) {
    if (o.retryOn !== "died" && o.retryOn !== "error") {
      throw new TypeError(
        `Cannot retry on ${
          JSON.stringify(o.retryOn)
        }: pass "died" (the runtime or runner died) or "error" (also when the job threw)`,
      );
    }
    if (o.retries === undefined) {
      throw new TypeError(
        `Cannot use retryOn without retries: add how many, e.g. { retries: 2, retryOn: ${
          JSON.stringify(o.retryOn)
        } }`,
      );
    }
  }
  checkAfter(o.after);
  return o as JobOptions;
}

function checkRetries(retries: unknown): void {
  if (retries === undefined || typeof retries === "number") {
    return checkWhole("retries", retries, 1000);
  }
  if (typeof retries !== "object" || retries === null) {
    throw new TypeError(
      `Cannot use retries ${
        JSON.stringify(retries) ?? String(retries)
      }: pass a number, or { max, backoff } e.g. { max: 3, backoff: 1000 }`,
    );
  }
  for (const key of Object.keys(retries)) {
    if (key !== "max" && key !== "backoff") {
      throw new TypeError(
        `Unknown retries option "${key}": use max and backoff`,
      );
    }
  }
  const { max, backoff } = retries as Record<string, unknown>;
  if (max === undefined) {
    throw new TypeError(
      "Cannot use retries without max: say how many, e.g. { max: 3 }",
    );
  }
  checkWhole("retries.max", max, 1000);
  checkNumber("retries.backoff", backoff, 0, 2 ** 31 - 1, "milliseconds");
}

function checkWhole(name: string, value: unknown, max: number): void {
  checkNumber(name, value, 0, max, "retries");
  if (value !== undefined && !Number.isInteger(value)) {
    throw new RangeError(
      `Cannot use ${name} ${value}: pass a whole number from 0 to ${max}`,
    );
  }
}

function checkNumber(
  name: string,
  value: unknown,
  min: number,
  max: number,
  unit: string,
): void {
  if (value === undefined) return;
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(
      `Cannot use ${name} ${JSON.stringify(value)}: pass a number of ${unit}`,
    );
  }
  if (value < min || value > max) {
    throw new RangeError(
      `Cannot use ${name} ${value}: pass ${unit} from ${min} to ${max}`,
    );
  }
}
