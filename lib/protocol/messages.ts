/**
 * Every message between the kernel and a job runtime: one discriminated
 * union each way, keyed by `t`. The frames (`frames.ts`) carry them; the
 * codec's packets (`../codec/packet.ts`) carry the values inside them.
 *
 * @module
 */
import type { FunctionInfo, Packet } from "../codec/packet.ts";

/** How a job runtime runs a job's source. */
export type JobKind = "function" | "expression" | "module";

/** What a job runtime reported about an error thrown inside the job. */
export interface RemoteError {
  /** The remote error's `name`, e.g. `"TypeError"`. */
  name: string;
  /** The remote error's message. */
  message: string;
  /** The remote stack, bgjobs' own frames removed. */
  stack?: string;
  /** The remote error's `cause`, when it had one. */
  cause?: RemoteError;
}

/** A job's error as sent: its description and, when it could be encoded, the error itself. */
export interface SentError extends RemoteError {
  /** The error encoded with the codec (its class, properties, cause chain). */
  packet?: Packet;
}

/** The kernel starts a job (`kind: "map"`: the function of a map's items). */
export interface RunMessage {
  t: "run";
  kind: JobKind | "map";
  /** The function's source, or the code to run. */
  source: string;
  /** The notebook names the job uses. */
  value?: Packet;
  /** A module job's own top-level names. */
  declared?: string[];
  /**
   * The function's arguments, as an array: the results of the jobs it runs
   * after (its `after` option).
   */
  args?: Packet;
  /** Written to stdout right before the job's end is sent. */
  marker?: string;
}

/** The kernel sends a chunk of a map's items, from index `start`. */
export interface ItemsMessage {
  t: "items";
  start: number;
  value: Packet;
}

/** The kernel's answer to an {@linkcode AnalyzeMessage}. */
export interface AnalysisMessage {
  t: "analysis";
  id: number;
  info?: FunctionInfo;
  error?: string;
}

/** Messages from the kernel to a job runtime. */
export type KernelMessage =
  | RunMessage
  | ItemsMessage
  | AnalysisMessage
  /** A map has no more items: end with an empty result. */
  | { t: "end" };

/**
 * The runtime asks the kernel, which has the parser loaded, for what a
 * function the job made needs (the runtime does not load the parser).
 */
export interface AnalyzeMessage {
  t: "analyze";
  id: number;
  source: string;
}

/** Progress a job reported with `progress()`. */
export interface ProgressMessage {
  t: "progress";
  done: number;
  total?: number;
}

/** A value a job published with `share()`. */
export interface ShareMessage {
  t: "share";
  name: string;
  value: Packet;
}

/** The job's result: its end. */
export interface ResultMessage {
  t: "result";
  value: Packet | null;
  /** See {@linkcode JOB_THREADS_MS}. */
  threads?: number;
}

/** The job threw: its end. */
export interface ErrorMessage {
  t: "error";
  error: SentError;
  /** See {@linkcode JOB_THREADS_MS}. */
  threads?: number;
}

/**
 * An end says how many threads its runtime had as the job began (from
 * /proc, where the job may read it) when the job ran for less than this:
 * Deno's file-operation threads end only after 10 s idle, so none of those
 * went meanwhile, and a count that did not rise means no thread came and
 * stayed but in the place of a Worker's that went (see `killTree()`).
 */
export const JOB_THREADS_MS = 5_000;

/** A frame from the runtime that the kernel could not read: its end. */
export interface UnreadableMessage {
  t: "unreadable";
  name: string;
  message: string;
}

/** The results of a chunk of a map's items, from index `start`. */
export interface ItemsDoneMessage {
  t: "items-done";
  start: number;
  value: Packet;
}

/** A map's item failed. */
export interface ItemErrorMessage {
  t: "item-error";
  index: number;
  error: RemoteError;
}

/** Messages from a job runtime to the kernel. */
export type RuntimeMessage =
  /** The runtime's channel is open: it can take a job. */
  | { t: "ready" }
  | AnalyzeMessage
  | ProgressMessage
  | ShareMessage
  | ResultMessage
  | ErrorMessage
  | UnreadableMessage
  | ItemsDoneMessage
  | ItemErrorMessage;

/** Messages that end a run. */
export type EndMessage = ResultMessage | ErrorMessage | UnreadableMessage;

/** Messages a running job sends besides its end, as handlers get them. */
export type JobEvent = Exclude<RuntimeMessage, { t: "ready" } | EndMessage>;

/** How a runtime ended a run. */
export type RunEnd =
  | { kind: "result"; value: Packet | null }
  | { kind: "error"; error: SentError }
  | { kind: "exit"; code: number; signal: string | null }
  /** The runtime's host stopped answering (a runner that died, a cut link). */
  | { kind: "lost"; why: string }
  /**
   * A detached runtime its runner killed (asked by a kernel, or stopping):
   * how a kernel that did not ask learns that the job was killed.
   */
  | { kind: "killed"; why: string };

/** What a running runtime reports besides its end. */
export interface RunHandlers {
  /** A control message (progress, share, analyze, map results). */
  onMessage(message: JobEvent): void;
  /** Text the job wrote to stdout or stderr. */
  onOutput(text: string): void;
}

/**
 * Whether a message from the runtime ends its run.
 *
 * @param msg A message from the runtime.
 * @returns `true` for a result, an error or an unreadable frame.
 */
export function isEnd(msg: RuntimeMessage): msg is EndMessage {
  return msg.t === "result" || msg.t === "error" || msg.t === "unreadable";
}

/**
 * How a run ended, from the message that ended it.
 *
 * @param msg The end message.
 * @returns The end.
 */
export function endOf(msg: EndMessage): RunEnd {
  if (msg.t === "result") return { kind: "result", value: msg.value };
  if (msg.t === "error") return { kind: "error", error: msg.error };
  return {
    kind: "error",
    error: {
      name: msg.name,
      message: `What the job sent could not be read: ${msg.message}`,
    },
  };
}

/**
 * Whether the first frame from a runtime says it is ready.
 *
 * @param next The first read from the runtime's frames.
 * @returns `true` when it is a `ready` message.
 */
export function isReady(next: IteratorResult<RuntimeMessage>): boolean {
  return !next.done && next.value?.t === "ready";
}

// Between a kernel and a runner of a cluster (see `cluster/` and `runner/`).
// Each travels as one frame (`frames.ts`) in NATS messages; a job's messages
// above travel inside them unchanged.

/** A job's permissions as a runner gets them (resolved by the kernel). */
export type WirePermissions = Record<string, boolean | string[]>;

/** Kernel → runner: start a job runtime. */
export interface StartMessage {
  t: "start";
  /** The remote runtime's id: names its input and event subjects. */
  rid: string;
  /** The kernel's id: while its heartbeat lives, so does the runtime. */
  kernel: string;
  /** How logs name the job, e.g. `Job 3 (crawl(urls))`. */
  label: string;
  /**
   * What the job may do, bounded by the runner's `--max-permissions`;
   * `"inherit"`: all those allow.
   */
  permissions: WirePermissions | "inherit";
  /** The environment the kernel grants the job (its `env` permission). */
  env: Record<string, string>;
  /** Heap cap in MB. */
  memory?: number;
  /** The job, to run as soon as the runtime is up. */
  first?: RunMessage;
  /**
   * A detached job: it outlives its kernel (the runner does not kill it when
   * the kernel goes silent), and its events go to the cluster's stream of
   * detached events, kept until removed or expired.
   */
  detached?: boolean;
}

/** Kernel → runner: kill a runtime; the answer comes once it is gone. */
export interface KillMessage {
  t: "kill";
  rid: string;
}

/** What a kernel asks a runner. */
export type RunnerRequest = StartMessage | KillMessage;

/** A runner's answer. */
export type RunnerReply =
  | { t: "started" }
  | { t: "killed" }
  | { t: "refused"; error: string };

/**
 * Where a kernel fetches a big result's buffers straight from its runner
 * (see `cluster/bulk_offer.ts`), instead of through the event stream.
 */
export interface BulkOffer {
  /** The runner's addresses, best first. */
  hosts: string[];
  port: number;
  /** Names the buffers, once. */
  token: string;
}

/** Runner → kernel, on a remote runtime's event subject. */
export type RemoteEvent =
  | { t: "output"; text: string }
  | JobEvent
  /** `bulk`: the result's `raw` buffers are to be fetched from there. */
  | { t: "end"; end: RunEnd; bulk?: BulkOffer };

/** What a runner says about itself, in the cluster's runner list. */
export interface RunnerInfo {
  /** Unique per runner process. */
  id: string;
  /** `--name`, or the host name. */
  name: string;
  /** Its machine's host name. */
  host: string;
  /** Its machine's cores. */
  cores: number;
  /** The host's 1-minute load average. */
  load: number;
  /** Runtimes it runs now. */
  running: number;
  /** Runtimes it runs at once. */
  concurrency: number;
  /** The most a job may ask for (`--max-permissions`). */
  maxPermissions: WirePermissions;
  /** When it said this, ms since the epoch. */
  at: number;
}
