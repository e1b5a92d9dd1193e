/**
 * Runs jobs: queues them under `maxRunning`, gives each a runtime with its
 * permissions, enforces `timeout` and `signal`, and turns how the runtime
 * ended into the job's final state.
 *
 * @module
 */
import {
  JobError,
  JobKilledError,
  JobTimeoutError,
  type RemoteError,
} from "./errors.ts";
import type { JobState } from "./job_state.ts";
import type { JobOptions } from "./options.ts";
import type { ResolvedPermissions } from "../sandbox/permissions.ts";
import { RuntimePool } from "../launch/pool.ts";
import type {
  RunEnd,
  RuntimeProcess,
  RuntimeSpec,
} from "../launch/runtime_process.ts";
import { releaseSlot, takeSlot } from "./slots.ts";
import { specFor } from "../sandbox/runtime_spec.ts";
import {
  completeJob,
  receiveError,
  type Receiver,
  receiveShared,
} from "../capture/capture.ts";

/** What to run in a job runtime. */
export interface RunRequest {
  kind: "function" | "expression" | "module";
  source: string;
  /** The notebook names the job uses, encoded (see `capture/capture.ts`). */
  value?: unknown;
  /** A module job's own top-level names. */
  declared?: string[];
  /** What the runtime runs, when not `source` (imports made absolute). */
  run?: string;
  /** Decodes what the job sends back. */
  receive?(packet: unknown): unknown;
}

const pool = new RuntimePool();

/** The pool of warm runtimes. */
export function runtimePool(): RuntimePool {
  return pool;
}

/** Who a job is and how it runs: what the engine needs besides the work. */
export interface JobContext {
  id: number;
  name: string;
  permissions: ResolvedPermissions;
  options: JobOptions;
  isDefault: boolean;
}

/** What a job's work gets from {@linkcode drive}. */
export interface Driver {
  /**
   * Takes a runtime for this job; stopping the job kills it. `first` is the
   * message the job will `run()` it with: a runtime started for it gets it
   * as it starts.
   */
  runtime(first?: object): Promise<RuntimeProcess>;
  /** Why the job was stopped (kill, abort, timeout), once it was. */
  readonly stopped: Error | undefined;
}

/**
 * Drives a job's life around its work: waits for a slot under `maxRunning`,
 * wires `kill()`, `signal` and `timeout` to kill every runtime the work took,
 * and fails the job when the work cannot start.
 *
 * @param state The job's state.
 * @param context Its id, name, permissions and options.
 * @param work Takes runtimes, calls `state.start()`, and settles the state.
 */
export async function drive(
  state: JobState,
  context: JobContext,
  work: (driver: Driver) => Promise<void>,
): Promise<void> {
  const { id, name, options } = context;
  const label = `Job ${id} (${name})`;
  const runtimes = new Set<RuntimeProcess>();
  let stopped: Error | undefined;
  let working: Promise<void> | undefined;
  let spec: RuntimeSpec | undefined;
  state.stop = async (error) => {
    stopped ??= error;
    if (!working) return state.fail(error, statusFor(error));
    await Promise.all([...runtimes].map((r) => r.kill()));
    await working.catch(() => {}); // its failure is the job's, reported there
  };
  const driver: Driver = {
    async runtime(first?: object): Promise<RuntimeProcess> {
      spec ??= specFor(context.permissions, options.memory, (warning) => {
        state.warnings.push(warning);
        state.changed();
      });
      const runtime = await pool.acquire(spec, context.isDefault, first);
      if (stopped) {
        await runtime.kill();
        throw stopped;
      }
      runtimes.add(runtime);
      return runtime;
    },
    get stopped(): Error | undefined {
      return stopped;
    },
  };
  const onAbort = () =>
    state.stop?.(
      new JobKilledError(`${label} was aborted`, {
        cause: options.signal?.reason,
      }),
    );
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    if (options.signal?.aborted) return onAbort();
    await takeSlot();
    try {
      if (state.finished) return;
      if (options.timeout !== undefined) {
        const ms = options.timeout; // counted from the start, not the queue
        timer = setTimeout(() => {
          state.stop?.(
            new JobTimeoutError(`${label} timed out after ${ms} ms`),
          );
        }, ms);
      }
      working = work(driver);
      await working;
    } finally {
      releaseSlot();
    }
  } catch (error) {
    if (stopped) return state.fail(stopped, statusFor(stopped));
    state.fail(
      new JobError(`${label} could not start: ${(error as Error).message}`, {
        cause: error,
      }),
    );
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    await Promise.all([...runtimes].map((r) => r.kill()));
  }
}

/**
 * Runs a job to its end in one runtime, writing its state as it goes.
 *
 * @param state The job's state.
 * @param request What to run.
 * @param context Its id, name, resolved permissions and options.
 */
export function runJob(
  state: JobState,
  request: RunRequest,
  context: JobContext,
): Promise<void> {
  return drive(state, context, async (driver) => {
    const { kind, value, declared } = request;
    const source = request.run ?? request.source;
    const message = { t: "run", kind, source, value, declared };
    const runtime = await driver.runtime(message);
    state.start();
    const end = await runtime.run(message, {
      onOutput: (text) => appendOutput(state, text),
      onMessage: (msg) => onMessage(state, msg, request),
    });
    settle(state, end, driver.stopped, context, request);
  });
}

/** Adds a runtime's output to the job's logs. */
export function appendOutput(state: JobState, text: string): void {
  state.logs.append(text);
  state.changed();
}

/** A stopped job's final status: a timeout fails it, the rest kill it. */
export function statusFor(error: Error): "failed" | "killed" {
  return error instanceof JobTimeoutError ? "failed" : "killed";
}

function onMessage(
  state: JobState,
  msg: Record<string, unknown>,
  request: RunRequest,
): void {
  if (msg.t === "progress") {
    state.progress = msg.total === undefined
      ? { done: msg.done as number }
      : { done: msg.done as number, total: msg.total as number };
  } else if (msg.t === "share") {
    receiveShared(state, request, msg.name as string, msg.value);
  }
  state.changed();
}

/** Turns how a runtime ended into the job's final state. */
export function settle(
  state: JobState,
  end: RunEnd,
  stopError: Error | undefined,
  context: { id: number; name: string; options: JobOptions },
  request: Receiver,
): void {
  const label = `Job ${context.id} (${context.name})`;
  if (stopError) return state.fail(stopError, statusFor(stopError));
  if (end.kind === "result") {
    return completeJob(state, request, end.value, label);
  }
  if (end.kind === "error") {
    const remote = end.error as RemoteError;
    const cause = receiveError(request, remote);
    return state.fail(
      new JobError(`${label} failed: ${remote.name}: ${remote.message}`, {
        remote,
        cause,
      }),
    );
  }
  const tail = state.logs.tail(20).join("\n");
  if (/out of memory|heap limit/i.test(tail)) {
    const cap = context.options.memory
      ? `its ${context.options.memory} MB cap`
      : "memory";
    return state.fail(
      new JobError(
        `${label} ran out of memory (over ${cap}); give it more with { memory: MB } or use less`,
      ),
    );
  }
  const how = end.signal
    ? `was killed by ${end.signal}`
    : `exited with code ${end.code}`;
  state.fail(
    new JobError(`${label} failed: its runtime ${how} before the job finished`),
  );
}
