// Text rendering of the jobs table, shared by `jobs.status()` and displays.
import { type Job, stateOf } from "./job_state.ts";

/**
 * `text`, cut to `max` characters with an ellipsis.
 *
 * @param text The text.
 * @param max The most characters to keep, the ellipsis included.
 * @returns The text, or its start and `…`.
 */
export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** How {@linkcode preview} shows a value. */
export interface PreviewOptions {
  /**
   * The most characters.
   *
   * @default {60}
   */
  max?: number;
  /**
   * Lay it out over several lines, deeper (the panel's result), instead of
   * one line (a table cell).
   *
   * @default {false}
   */
  multiline?: boolean;
}

/**
 * A preview of any value: strings as JSON, the rest as `Deno.inspect` shows it.
 *
 * @param value The value.
 * @param options Its length and layout.
 * @returns The preview.
 */
export function preview(value: unknown, options: PreviewOptions = {}): string {
  const { max = 60, multiline = false } = options;
  let text: string;
  try {
    text = typeof value === "string" ? JSON.stringify(value) : Deno.inspect(
      value,
      multiline
        ? { depth: 4, iterableLimit: 20, colors: false, breakLength: 80 }
        : { depth: 2, iterableLimit: 10, breakLength: Infinity, compact: true },
    );
  } catch {
    text = String(value);
  }
  return truncate(multiline ? text : text.replace(/\s+/g, " "), max);
}

/** Human-readable elapsed time: `850 ms`, `12.3 s`, `4m 05s`. */
export function formatElapsed(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
}

/** `3/10 (30%)`, `42`, or an empty string. */
export function formatProgress(job: Job<unknown>): string {
  const p = job.progress;
  if (!p) return "";
  if (!p.total) return String(p.done);
  return `${p.done}/${p.total} (${Math.floor((100 * p.done) / p.total)}%)`;
}

/**
 * `attempt 2/3` for a job tried again (`retries`): the attempt under way or
 * the last one, of how many it may make; `""` before any retry.
 */
export function formatAttempt(job: Job<unknown>): string {
  const { attempt, maxAttempts } = stateOf(job);
  return attempt > 1 ? `attempt ${attempt}/${maxAttempts}` : "";
}

/** The status column: `running`, or `running (attempt 2/3)` on a retry. */
export function formatStatus(job: Job<unknown>): string {
  const attempt = formatAttempt(job);
  return attempt ? `${job.status} (${attempt})` : job.status;
}

/** The outcome column: a result preview or the error message. */
export function outcome(job: Job<unknown>): string {
  if (job.status === "completed") return preview(job.result);
  if (job.error) return preview(job.error.message);
  return "";
}

/** The columns of every jobs table, text or HTML. */
export const COLUMNS: readonly string[] = [
  "id",
  "name",
  "status",
  "where",
  "elapsed",
  "progress",
  "result / error",
];

/** The jobs as a fixed-width text table. */
export function textTable(list: readonly Job<unknown>[]): string {
  if (list.length === 0) return "No jobs";
  const rows = [[...COLUMNS]];
  for (const job of list) {
    rows.push([
      String(job.id),
      truncate(job.name, 30),
      formatStatus(job),
      job.where,
      formatElapsed(job.elapsed),
      formatProgress(job),
      outcome(job),
    ]);
  }
  const widths = rows[0].map((_, c) =>
    Math.max(...rows.map((r) => r[c].length))
  );
  return rows.map((r) =>
    r.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd()
  )
    .join("\n");
}
