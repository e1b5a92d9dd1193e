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
import type { JobState } from "./job.ts";
import type { JobOptions } from "./options.ts";
import { permissionFlags, type ResolvedPermissions } from "./permissions.ts";
import { RuntimePool } from "./pool.ts";
import type { RunEnd, RuntimeSpec } from "./runtime_process.ts";
import { runtimeEnv } from "./_env.ts";
import { completeJob, receiveShared } from "./capture.ts";

/** What to run in a job runtime. */
export interface RunRequest {
  kind: "function" | "expression" | "module";
  source: string;
  /** The notebook names the job uses, encoded (see `capture.ts`). */
  value?: unknown;
  /** A module job's own top-level names. */
  declared?: string[];
  /** Decodes what the job sends back. */
  receive?(packet: unknown): unknown;
}

/** Engine settings, changed with `jobs.configure()`. */
export const settings = {
  maxRunning: Math.max(8, 4 * (navigator.hardwareConcurrency ?? 2)),
};

const pool = new RuntimePool();
const waiting: (() => void)[] = [];
let running = 0;

/** The pool of warm runtimes. */
export function runtimePool(): RuntimePool {
  return pool;
}

/** How many jobs run now, and how many wait for a slot. */
export function engineLoad(): { running: number; queued: number } {
  return { running, queued: waiting.length };
}

/** Hands free slots to queued jobs (after a job ended or `maxRunning` rose). */
export function wakeQueue(): void {
  while (running < settings.maxRunning && waiting.length) {
    running++; // the slot passes to the woken job before anything else runs
    waiting.shift()!();
  }
}

/** Takes a slot now, or waits for one to be handed over. */
function takeSlot(): Promise<void> | void {
  if (running < settings.maxRunning && waiting.length === 0) {
    running++;
    return;
  }
  return new Promise<void>((resolve) => waiting.push(resolve));
}

function specFor(
  permissions: ResolvedPermissions,
  memory?: number,
): RuntimeSpec {
  return {
    flags: permissionFlags(permissions),
    readAll: permissions.read === true,
    writeAll: permissions.write === true,
    memory,
    env: runtimeEnv(permissions),
  };
}

/**
 * Runs a job to its end, writing its state as it goes.
 *
 * @param state The job's state.
 * @param request What to run.
 * @param context Its id, name, resolved permissions and options.
 */
export async function runJob(
  state: JobState,
  request: RunRequest,
  context: {
    id: number;
    name: string;
    permissions: ResolvedPermissions;
    options: JobOptions;
    isDefault: boolean;
  },
): Promise<void> {
  const { id, name, options } = context;
  let stopError: Error | undefined;
  let stopRuntime: (() => Promise<void>) | undefined;
  let finished: Promise<void> | undefined;
  state.stop = async (error) => {
    stopError ??= error;
    if (!stopRuntime) return state.fail(error, statusFor(error));
    await stopRuntime();
    await finished;
  };
  const onAbort = () =>
    state.stop?.(
      new JobKilledError(`Job ${id} (${name}) was aborted`, {
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
      const spec = specFor(context.permissions, options.memory);
      const runtime = await pool.acquire(spec, context.isDefault);
      if (state.finished) return void runtime.kill();
      stopRuntime = () => runtime.kill();
      if (options.timeout !== undefined) {
        const ms = options.timeout;
        timer = setTimeout(() => {
          state.stop?.(
            new JobTimeoutError(`Job ${id} (${name}) timed out after ${ms} ms`),
          );
        }, ms);
      }
      state.start();
      const { kind, source, value, declared } = request;
      finished = runtime.run({ t: "run", kind, source, value, declared }, {
        onOutput: (text) => {
          state.logs.append(text);
          state.changed();
        },
        onMessage: (msg) => onMessage(state, msg, request),
      }).then((end) => settle(state, end, stopError, context, request));
      await finished;
    } finally {
      running--;
      wakeQueue();
    }
  } catch (error) {
    state.fail(
      new JobError(
        `Job ${id} (${name}) could not start: ${(error as Error).message}`,
        {
          cause: error,
        },
      ),
    );
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

function statusFor(error: Error): "failed" | "killed" {
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

function settle(
  state: JobState,
  end: RunEnd,
  stopError: Error | undefined,
  context: { id: number; name: string; options: JobOptions },
  request: RunRequest,
): void {
  const label = `Job ${context.id} (${context.name})`;
  if (stopError) return state.fail(stopError, statusFor(stopError));
  if (end.kind === "result") {
    return completeJob(state, request, end.value, label);
  }
  if (end.kind === "error") {
    const remote = end.error as RemoteError;
    return state.fail(
      new JobError(`${label} failed: ${remote.name}: ${remote.message}`, {
        remote,
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
