// HTML pieces shared by the live panel and the jobs table. Every style is
// inline: notebook frontends keep inline styles, and a <style> element would
// leak into the rest of the page.
import type { Job, JobProgress, JobStatus } from "../lib/engine/job_state.ts";
import { formatElapsed } from "../lib/engine/text_table.ts";

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** Removes ANSI escape sequences (colours, cursor moves) from job output. */
export function stripAnsi(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
}

/** Badge colours by status. */
export const STATUS_COLORS: Readonly<Record<JobStatus, string>> = {
  queued: "#6b7280",
  running: "#2563eb",
  completed: "#16a34a",
  failed: "#dc2626",
  killed: "#d97706",
};

/** A coloured pill with the status, marked for tests with `data-status`. */
export function badge(status: JobStatus): string {
  return `<span class="bgjobs-status" data-status="${status}" style="` +
    `display:inline-block;padding:1px 8px;border-radius:9px;` +
    `background:${STATUS_COLORS[status]};color:#fff;font-size:11px;` +
    `font-weight:600;letter-spacing:.02em">${status}</span>`;
}

/** Whole percent of a progress with a total, else `undefined`. */
export function percentOf(
  progress: JobProgress | undefined,
): number | undefined {
  if (!progress?.total || progress.total <= 0) return undefined;
  const ratio = Math.min(1, Math.max(0, progress.done / progress.total));
  return Math.floor(ratio * 100);
}

/**
 * Time left at the average rate so far, as text; `undefined` until there is
 * a rate or when there is no total.
 */
export function eta(job: Job<unknown>): string | undefined {
  const p = job.progress;
  if (!p?.total || p.done <= 0 || job.status !== "running") return undefined;
  const left = Math.max(0, p.total - p.done);
  return formatElapsed((job.elapsed / p.done) * left);
}

/** Units per second so far, e.g. `12.5/s`; `undefined` before the first. */
export function rate(job: Job<unknown>): string | undefined {
  const done = job.progress?.done ?? 0;
  const seconds = job.elapsed / 1000;
  if (done <= 0 || seconds <= 0) return undefined;
  const perSecond = done / seconds;
  const digits = perSecond >= 100 ? 0 : perSecond >= 10 ? 1 : 2;
  return `${perSecond.toFixed(digits)}/s`;
}

/** A thin progress bar `width` px wide, filled to `percent`. */
export function bar(percent: number, width: number, color: string): string {
  return `<span class="bgjobs-bar" style="display:inline-block;` +
    `vertical-align:middle;width:${width}px;height:8px;border-radius:4px;` +
    `background:#e5e7eb;overflow:hidden"><span style="display:block;` +
    `height:100%;width:${percent}%;background:${color}"></span></span>`;
}

/** A progress cell: bar, counts and percent; `""` when none was reported. */
export function progressHtml(job: Job<unknown>, width: number): string {
  const p = job.progress;
  if (!p) return "";
  const percent = percentOf(p);
  const color = STATUS_COLORS[job.status];
  if (percent === undefined) {
    return `<span class="bgjobs-progress">${p.done} done</span>`;
  }
  return `${bar(percent, width, color)} <span class="bgjobs-progress" ` +
    `data-percent="${percent}">${p.done}/${p.total} (${percent}%)</span>`;
}

/** `<pre>` text block with the panel's monospace look. */
export function pre(text: string, className: string, color = "#111"): string {
  return `<pre class="${className}" style="margin:4px 0 0;padding:6px 8px;` +
    `background:#f6f8fa;border-radius:4px;color:${color};font-size:12px;` +
    `line-height:1.35;white-space:pre-wrap;word-break:break-word;` +
    `max-height:24em;overflow:auto">${escapeHtml(text)}</pre>`;
}
