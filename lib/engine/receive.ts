// What comes back from a job: its result (a module job's exports land in the
// notebook), the values it shares, and the error it failed with, each read
// with the decoder of the job's capture; and how its runtime ended.
import type { Capture } from "../capture/capture.ts";
import { jobLabel, type JobState } from "./job_state.ts";
import { JobError, JobKilledError, type RemoteError } from "./errors.ts";
import type { JobOptions } from "./options.ts";
import type { AttemptFailure } from "./retry.ts";
import type { RunEnd } from "../protocol/messages.ts";
import { writeNotebook } from "../capture/notebook.ts";
import { isIdentifier, type Packet } from "../codec/packet.ts";

/** What the engine knows of a job's request, for reading what comes back. */
export interface Receiver {
  /** How the job ran: a module's result is its exports. */
  kind: Capture["kind"];
  /** Decodes a packet from the job; absent: the packet is the value. */
  receive?(packet: Packet): unknown;
  /**
   * A module's exports stay in `job.exports`, not written into the notebook
   * (a restored job listed at import, until `jobs.attach()`).
   */
  hold?: boolean;
}

/**
 * Completes a job with the result packet its runtime sent: decodes it, and
 * for a module job writes each export into the notebook (a name the notebook
 * holds as a `const` stays in `job.exports`, with a warning). A result that
 * cannot be decoded fails the job.
 *
 * @param state The job's state.
 * @param request The job's request.
 * @param packet The result packet.
 * @param label How errors name the job, e.g. `Job 3 (crawl(urls))`.
 */
export function completeJob(
  state: JobState,
  request: Receiver,
  packet: Packet | null,
  label: string,
): void {
  let value: unknown;
  try {
    value = request.receive && packet ? request.receive(packet) : packet;
  } catch (error) {
    return state.fail(
      new JobError(
        `${label} finished, but its result could not be read: ${
          (error as Error).message
        }`,
        { cause: error },
      ),
    );
  }
  if (request.kind === "module" && value && typeof value === "object") {
    Object.assign(state.exports, value);
    if (!request.hold) landAll(state, value);
  }
  state.complete(value);
}

/**
 * Writes a completed module job's exports into the notebook; a name the
 * notebook holds as a `const` (or a global) stays in `job.exports`, with a
 * warning.
 *
 * @param state The job's state.
 * @returns The names written.
 */
export function landExports(state: JobState): string[] {
  const value = state.result;
  if (state.status !== "completed" || !value || typeof value !== "object") {
    return [];
  }
  const warned = state.warnings.length;
  const written = landAll(state, value);
  if (state.warnings.length > warned) state.changed();
  return written;
}

function landAll(state: JobState, value: object): string[] {
  const written: string[] = [];
  for (const [name, exported] of Object.entries(value)) {
    if (name === "default" || !isIdentifier(name)) continue;
    const warning = land(name, exported);
    if (warning) state.warnings.push(warning);
    else written.push(name);
  }
  return written;
}

/**
 * Records a value a job published with `share()` in `job.exports`.
 *
 * @param state The job's state.
 * @param request The job's request.
 * @param name The name it was shared under.
 * @param packet The value's packet.
 */
export function receiveShared(
  state: JobState,
  request: Receiver,
  name: string,
  packet: Packet,
): void {
  try {
    state.exports[name] = request.receive ? request.receive(packet) : packet;
  } catch (error) {
    state.warnings.push(
      `Shared value "${name}" could not be read: ${(error as Error).message}`,
    );
  }
}

/**
 * The error a job failed with, as the notebook gets it: decoded with its
 * class, own properties and cause chain, with the runtime's cleaned-up
 * stacks; `undefined` when the runtime could not encode it.
 *
 * @param request The job's request.
 * @param remote The runtime's description of the error.
 * @param packet The error itself, encoded, when the runtime could.
 * @returns The error, or `undefined`.
 */
export function receiveError(
  request: Receiver,
  remote: RemoteError,
  packet: Packet | undefined,
): unknown {
  if (packet === undefined || !request.receive) return undefined;
  try {
    const error = request.receive(packet);
    let local: unknown = error;
    for (
      let r: RemoteError | undefined = remote;
      r && local instanceof Error;
      local = local.cause
    ) {
      if (r.stack) local.stack = r.stack;
      r = r.cause;
    }
    return error;
  } catch {
    return undefined;
  }
}

// Writes an export into the notebook; says why when it could not.
function land(name: string, value: unknown): string | undefined {
  const outcome = writeNotebook(name, value);
  if (outcome === "const") {
    return `Export "${name}" was not written to the notebook: "${name}" is a const there; use job.exports.${name}`;
  }
  if (outcome === "global") {
    return `Export "${name}" was not written to the notebook: it would replace the global ${name}; use job.exports.${name}`;
  }
  return undefined;
}

/**
 * Turns how a runtime ended into the job's result (or its kill, for a
 * detached runtime its runner killed), or into why the attempt failed: a
 * thrown error or running out of memory is the job's `"error"`; an exit or a
 * signal before the job finished, or a lost runner, means its runtime
 * `"died"`.
 *
 * @param state The job's state: completed here when the run gave a result.
 * @param end How the runtime ended.
 * @param context The job's id, name and options.
 * @param request How to read what the job sent.
 * @returns Why the attempt failed, or nothing when the job completed (or
 * its result could not be read, which fails it).
 */
export function settle(
  state: JobState,
  end: RunEnd,
  context: { id: number; name: string; options: JobOptions },
  request: Receiver,
): AttemptFailure | undefined {
  const label = jobLabel(context.id, context.name);
  if (end.kind === "result") {
    completeJob(state, request, end.value, label);
    return undefined;
  }
  if (end.kind === "error") {
    const { packet, ...remote } = end.error;
    const cause = receiveError(request, remote, packet);
    const error = new JobError(
      `${label} failed: ${remote.name}: ${remote.message}`,
      { remote, cause },
    );
    return { error, reason: "error" };
  }
  if (end.kind === "killed") {
    state.fail(new JobKilledError(`${label} was killed: ${end.why}`), "killed");
    return undefined;
  }
  if (end.kind === "lost") {
    return {
      error: new JobError(`${label} failed: ${end.why}`),
      reason: "died",
    };
  }
  if (/out of memory|heap limit/i.test(state.output(20))) {
    const cap = context.options.memory
      ? `its ${context.options.memory} MB cap`
      : "memory";
    const error = new JobError(
      `${label} ran out of memory (over ${cap}); give it more with { memory: MB } or use less`,
    );
    return { error, reason: "error" };
  }
  const how = end.signal
    ? `was killed by ${end.signal}`
    : `exited with code ${end.code}`;
  const error = new JobError(
    `${label} failed: its runtime ${how} before the job finished`,
  );
  return { error, reason: "died" };
}
