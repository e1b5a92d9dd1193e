// How a run of a job runtime ends, read from the frames it sends.

/** How a runtime ended a run. */
export type RunEnd =
  | { kind: "result"; value: unknown }
  | { kind: "error"; error: unknown }
  | { kind: "exit"; code: number; signal: string | null };

/** What a running runtime reports besides its end. */
export interface RunHandlers {
  /** A decoded control message (progress, share). */
  onMessage(message: Record<string, unknown>): void;
  /** Text the job wrote to stdout or stderr. */
  onOutput(text: string): void;
}

/** The end a frame from the runtime means, if it is one. */
export function endOf(msg: Record<string, unknown>): RunEnd | undefined {
  if (msg.t === "result") return { kind: "result", value: msg.value };
  if (msg.t === "error") return { kind: "error", error: msg.error };
  if (msg.t === "unreadable") {
    return {
      kind: "error",
      error: {
        name: msg.name,
        message: `What the job sent could not be read: ${msg.message}`,
      },
    };
  }
  return undefined;
}

/** Whether the first frame from a runtime says it is ready. */
export function isReady(next: IteratorResult<unknown>): boolean {
  return !next.done && (next.value as { t?: unknown })?.t === "ready";
}
