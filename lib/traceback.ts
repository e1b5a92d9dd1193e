/**
 * A failed job's stack, with the job's own source lines beside the frames
 * that point into it, numbered as the user wrote them.
 *
 * @module
 */
import type { JobError } from "./errors.ts";

// The runtime names frames in the job's code `<job>:LINE:COL`, lines counted
// in the user's own source from 1.
const FRAME = /<job>:(\d+):(\d+)\)?\s*$/;

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
    const line = Number(match[1]);
    const text = lines[line - 1];
    if (text === undefined) continue;
    const number = String(line).padStart(5);
    out.push(`${number} | ${text}`);
    out.push(
      `${" ".repeat(5)} | ${" ".repeat(Math.max(0, Number(match[2]) - 1))}^`,
    );
  }
  return out.join("\n");
}
