/**
 * Runs jobs: waits for their `after` jobs, queues them under `maxRunning`,
 * gives each a runtime with its permissions, enforces `timeout` and
 * `signal`, turns how the runtime ended into the job's final state, and
 * runs a failed job again as its `retries` allow.
 *
 * @module
 */
import { JobError, JobKilledError, JobTimeoutError } from "./errors.ts";
import { jobLabel, type JobState } from "./job_state.ts";
import type { Packet } from "../codec/packet.ts";
import type { JobOptions } from "./options.ts";
import type { ResolvedPermissions } from "../sandbox/permissions.ts";
import { backend, type Runtime, type RuntimeRequest } from "./backend.ts";
import type {
  AnalyzeMessage,
  JobEvent,
  JobKind,
  RunMessage,
} from "../protocol/messages.ts";
import { analyzeFunction } from "../capture/analyze.ts";
import { releaseSlot, takeSlot } from "./slots.ts";
import { awaitDependencies } from "./after.ts";
import {
  type AttemptFailure,
  retried,
  retryDelay,
  retryPolicy,
} from "./retry.ts";
import { type Receiver, receiveShared, settle } from "./receive.ts";
import { detachedBackend, type DetachedJob, markDetached } from "./detached.ts";

/** What to run in a job runtime. */
export interface RunRequest {
  kind: JobKind;
  source: string;
  /** The notebook names the job uses, encoded (see `capture/capture.ts`). */
  value?: Packet;
  /** A module job's own top-level names. */
  declared?: string[];
  /** What the runtime runs, when not `source` (imports made absolute). */
  run?: string;
  /** Decodes what the job sends back. */
  receive?(packet: Packet): unknown;
}

/** Who a job is and how it runs: what the engine needs besides the work. */
export interface JobContext {
  id: number;
  /** The job's `uuid`. */
  uuid: string;
  name: string;
  permissions: ResolvedPermissions | "inherit";
  options: JobOptions;
  isDefault: boolean;
  /** For a detached job: what its record says of it. */
  detached?: DetachedJob;
}

/** What a job's work gets from {@linkcode drive}. */
export interface Driver {
  /**
   * Takes a runtime for this job; stopping the job kills it. `first` is the
   * message the job will `run()` it with: a runtime started for it gets it
   * as it starts.
   */
  runtime(first?: RunMessage): Promise<Runtime>;
  /** Why the job was stopped (kill, abort, timeout), once it was. */
  readonly stopped: Error | undefined;
  /** The results of the jobs of its `after`: its function's arguments. */
  readonly args: Packet | undefined;
}

/**
 * One attempt of a job's work: takes runtimes, calls `state.start()`, and
 * completes the state, or says why the attempt failed (nothing when it was
 * stopped: the engine knows why).
 */
export type Work = (driver: Driver) => Promise<AttemptFailure | void>;

/**
 * Drives a job's life around its work: waits for the jobs of its `after`,
 * for a slot under `maxRunning`, wires `kill()`, `signal` and `timeout` to
 * kill every runtime the work took, runs the work again as `retries` allow,
 * and fails the job when the work fails for good or cannot start. A kill,
 * an abort or a timeout (which counts from the first attempt's start) is
 * never retried.
 *
 * @param state The job's state.
 * @param context Its id, name, permissions and options.
 * @param work One attempt: takes runtimes, calls `state.start()`, and
 * completes the state or says why it failed.
 */
export async function drive(
  state: JobState,
  context: JobContext,
  work: Work,
): Promise<void> {
  const { id, name, options } = context;
  const label = jobLabel(id, name);
  const policy = retryPolicy(options);
  state.maxAttempts = policy.attempts;
  const runtimes = new Set<Runtime>();
  const halted = Promise.withResolvers<void>();
  let stopped: Error | undefined;
  let working: Promise<AttemptFailure | void> | undefined;
  let args: Packet | undefined;
  const request: RuntimeRequest = {
    permissions: context.permissions,
    memory: options.memory,
    standard: context.isDefault,
    label,
    warn: (warning) => {
      state.warnings.push(warning);
      state.changed();
    },
  };
  state.stop = async (error) => {
    stopped ??= error;
    halted.resolve();
    const attempt = working;
    if (!attempt) return state.fail(error, statusFor(error));
    await Promise.all([...runtimes].map((r) => r.kill()));
    await attempt.catch(() => {}); // its failure is the job's, reported there
    // Settled when kill() resolves (the loop below would, a turn later).
    state.fail(stopped, statusFor(stopped));
  };
  const driver: Driver = {
    async runtime(first?: RunMessage): Promise<Runtime> {
      const place = context.detached
        ? detachedBackend(state, context.detached)
        : backend(options.on);
      const runtime = await place.acquire(request, first);
      state.where = runtime.where;
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
    get args(): Packet | undefined {
      return args;
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
  const startTimer = (ms: number) => {
    timer = setTimeout(() => {
      state.stop?.(new JobTimeoutError(`${label} timed out after ${ms} ms`));
    }, ms);
  };
  try {
    if (options.signal?.aborted) return onAbort();
    if (options.after?.length) {
      const waited = await awaitDependencies(
        label,
        options.after,
        halted.promise,
      );
      if (!waited || state.finished) return;
      if ("error" in waited) return state.fail(waited.error);
      args = waited.args;
      state.status = "queued";
      state.changed();
    }
    for (let attempt = 1;; attempt++) {
      let failure: AttemptFailure | void;
      await takeSlot();
      try {
        if (state.finished) return;
        // Counted from the first start, not the queue, over every attempt.
        if (options.timeout !== undefined && !timer) {
          startTimer(options.timeout);
        }
        working = work(driver);
        failure = await working;
      } finally {
        working = undefined;
        releaseSlot();
      }
      await Promise.all([...runtimes].map((r) => r.kill()));
      runtimes.clear();
      if (stopped) return state.fail(stopped, statusFor(stopped));
      if (!failure || state.finished) return;
      if (!retried(policy, failure, attempt)) return state.fail(failure.error);
      state.retry(failure.error);
      await pause(retryDelay(policy, attempt), halted.promise);
      if (state.finished) return;
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

/** Waits `ms`, or less when `stopped` resolves first. */
async function pause(ms: number, stopped: Promise<void>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    stopped,
    new Promise<void>((resolve) => timer = setTimeout(resolve, ms)),
  ]);
  clearTimeout(timer);
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
  if (context.options.detached) {
    const { uuid, name } = context;
    const { source, kind, declared } = request;
    context = { ...context, detached: { uuid, name, source, kind, declared } };
    markDetached(state);
  }
  return drive(state, context, async (driver) => {
    const { kind, value, declared } = request;
    const source = request.run ?? request.source;
    const message: RunMessage = { t: "run", kind, source, value, declared };
    if (driver.args) message.args = driver.args;
    const runtime = await driver.runtime(message);
    state.start();
    const end = await runtime.run(message, {
      onOutput: (text) => appendOutput(state, text),
      onMessage: (msg) => {
        if (msg.t === "analyze") return answerAnalysis(runtime, msg);
        receiveEvent(state, msg, request);
      },
    });
    if (!driver.stopped) return settle(state, end, context, request);
  });
}

/** Adds a runtime's output to the job's logs. */
export function appendOutput(state: JobState, text: string): void {
  state.logs.append(text);
  state.changed();
}

/** A stopped job's final status: a timeout fails it, the rest kill it. */
function statusFor(error: Error): "failed" | "killed" {
  return error instanceof JobTimeoutError ? "failed" : "killed";
}

/**
 * Answers a runtime's request for a function's analysis: the runtime does
 * not load the parser, the kernel has it.
 *
 * @param runtime The runtime that asked.
 * @param msg Its request.
 */
export function answerAnalysis(runtime: Runtime, msg: AnalyzeMessage): void {
  const { id, source } = msg;
  try {
    runtime.send({ t: "analysis", id, info: analyzeFunction(source) });
  } catch (error) {
    runtime.send({ t: "analysis", id, error: (error as Error).message });
  }
}

/**
 * Records a job's progress or shared value.
 *
 * @param state The job's state.
 * @param msg The event.
 * @param request How to read what the job sent.
 */
export function receiveEvent(
  state: JobState,
  msg: JobEvent,
  request: Receiver,
): void {
  if (msg.t === "progress") {
    const { done, total } = msg;
    state.progress = total === undefined ? { done } : { done, total };
  } else if (msg.t === "share") {
    receiveShared(state, request, msg.name, msg.value);
  }
  state.changed();
}
