/**
 * Runs jobs: queues them under `maxRunning`, gives each a runtime with its
 * permissions, enforces `timeout` and `signal`, and turns how the runtime
 * ended into the job's final state.
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
  RunEnd,
  RunMessage,
} from "../protocol/messages.ts";
import { analyzeFunction } from "../capture/analyze.ts";
import { releaseSlot, takeSlot } from "./slots.ts";
import {
  completeJob,
  receiveError,
  type Receiver,
  receiveShared,
} from "./receive.ts";

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
  name: string;
  permissions: ResolvedPermissions | "inherit";
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
  runtime(first?: RunMessage): Promise<Runtime>;
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
  const label = jobLabel(id, name);
  const runtimes = new Set<Runtime>();
  let stopped: Error | undefined;
  let working: Promise<void> | undefined;
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
    if (!working) return state.fail(error, statusFor(error));
    await Promise.all([...runtimes].map((r) => r.kill()));
    await working.catch(() => {}); // its failure is the job's, reported there
  };
  const driver: Driver = {
    async runtime(first?: RunMessage): Promise<Runtime> {
      const runtime = await backend(options.on).acquire(request, first);
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
    const message: RunMessage = { t: "run", kind, source, value, declared };
    const runtime = await driver.runtime(message);
    state.start();
    const end = await runtime.run(message, {
      onOutput: (text) => appendOutput(state, text),
      onMessage: (msg) => {
        if (msg.t === "analyze") return answerAnalysis(runtime, msg);
        onMessage(state, msg, request);
      },
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

function onMessage(state: JobState, msg: JobEvent, request: RunRequest): void {
  if (msg.t === "progress") {
    const { done, total } = msg;
    state.progress = total === undefined ? { done } : { done, total };
  } else if (msg.t === "share") {
    receiveShared(state, request, msg.name, msg.value);
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
  const label = jobLabel(context.id, context.name);
  if (stopError) return state.fail(stopError, statusFor(stopError));
  if (end.kind === "result") {
    return completeJob(state, request, end.value, label);
  }
  if (end.kind === "error") {
    const { packet, ...remote } = end.error;
    const cause = receiveError(request, remote, packet);
    return state.fail(
      new JobError(`${label} failed: ${remote.name}: ${remote.message}`, {
        remote,
        cause,
      }),
    );
  }
  if (end.kind === "lost") {
    return state.fail(new JobError(`${label} failed: ${end.why}`));
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
