/**
 * A failed job's stack, with the job's own source lines beside the frames
 * that point into it, numbered as the user wrote them.
 *
 * @module
 */
import type { JobError } from "./errors.ts";
import { lookupNotebook } from "../capture/notebook.ts";

// The runtime names frames in the job's code `<job>:LINE:COL`, and frames in
// a notebook function sent with it `NAME (<notebook>:LINE:COL)`, lines
// counted from 1 in the source as the user wrote it.
const FRAME = /(?:at (\S+) \()?<(job|notebook)>:(\d+):(\d+)\)?\s*$/;
/** `"use strict";(` precedes a notebook function's first line when it is evaluated. */
const FIRST_LINE_SHIFT = 14;

function notebookSource(name: string | undefined): string | undefined {
  if (!name) return undefined;
  try {
    const value = lookupNotebook(name);
    return typeof value === "function"
      ? Function.prototype.toString.call(value)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Formats a failed job's error with source context.
 *
 * @param error The job's error.
 * @param source The job's source text.
 * @returns The message, the remote stack, and under each frame in the job's
 * source, that line with its number.
 * @example Usage
 * ```ts
 * import { formatTraceback } from "./traceback.ts";
 * import { JobError } from "./errors.ts";
 * const error = new JobError("Job 1 failed: Error: boom", {
 *   remote: { name: "Error", message: "boom", stack: "Error: boom\n    at <job>:2:9" },
 * });
 * console.log(formatTraceback(error, "() => {\n  throw new Error('boom');\n}"));
 * ```
 */
export function formatTraceback(error: Error, source: string): string {
  const remote = (error as JobError).remote;
  const lines = source.split("\n");
  const out = [`${error.name}: ${error.message}`];
  if (!remote?.stack) return out.join("\n");
  for (const frame of remote.stack.split("\n").slice(1)) {
    out.push(frame);
    const match = frame.match(FRAME);
    if (!match) continue;
    const [, name, where, lineText, columnText] = match;
    const line = Number(lineText);
    let column = Number(columnText);
    const text = where === "job"
      ? lines[line - 1]
      : notebookSource(name)?.split("\n")[line - 1];
    if (text === undefined) continue;
    if (where === "notebook" && line === 1) column -= FIRST_LINE_SHIFT;
    out.push(`${String(line).padStart(5)} | ${text}`);
    out.push(`${" ".repeat(5)} | ${" ".repeat(Math.max(0, column - 1))}^`);
  }
  return out.join("\n");
}
