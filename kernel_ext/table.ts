/**
 * `jobs` as the value of a notebook cell: an HTML table of every job, with
 * the text table of `jobs.status()` beside it for text frontends.
 *
 * @module
 */
import type { Job } from "../lib/engine/job_state.ts";
import {
  COLUMNS,
  formatElapsed,
  outcome,
  textTable,
  truncate,
} from "../lib/engine/text_table.ts";
import { badge, escapeHtml, progressHtml, STATUS_COLORS } from "./_html.ts";

const CELL = "padding:4px 10px;border-bottom:1px solid #e5e7eb;" +
  "text-align:left;vertical-align:middle;white-space:nowrap";
const OUTCOME = "display:inline-block;max-width:220px;overflow:hidden;" +
  "text-overflow:ellipsis;vertical-align:middle;white-space:pre";
const HEAD = `${CELL};font-weight:600;color:#374151;background:#f6f8fa`;

/**
 * Renders jobs as a Jupyter MIME bundle.
 *
 * @param list The jobs, oldest first.
 * @returns `text/html` (a table) and `text/plain` (the text table).
 * @example Usage
 * ```ts
 * import { renderJobsTable } from "./table.ts";
 * console.log(renderJobsTable([])["text/plain"]); // "No jobs"
 * ```
 */
export function renderJobsTable(
  list: readonly Job<unknown>[],
): Record<string, string> {
  return { "text/plain": textTable(list), "text/html": htmlTable(list) };
}

function htmlTable(list: readonly Job<unknown>[]): string {
  const style = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;" +
    "font-size:13px;border-collapse:collapse;margin:0";
  if (list.length === 0) {
    return `<div class="bgjobs-table" style="${style};color:#6b7280">` +
      `No jobs</div>`;
  }
  const heads = COLUMNS.map((h) => `<th style="${HEAD}">${h}</th>`).join("");
  const rows = list.map(row).join("");
  return `<table class="bgjobs-table" style="${style}"><thead><tr>${heads}` +
    `</tr></thead><tbody>${rows}</tbody></table>`;
}

function row(job: Job<unknown>): string {
  const text = outcome(job);
  const color = job.status === "completed" ? "#111" : STATUS_COLORS[job.status];
  const cells = [
    `${job.id}`,
    `<span title="${escapeHtml(job.name)}">${
      escapeHtml(truncate(job.name, 40))
    }</span>`,
    badge(job.status),
    formatElapsed(job.elapsed),
    progressHtml(job, 60),
    `<code title="${escapeHtml(text)}" style="${OUTCOME};color:${color}">` +
    `${escapeHtml(text)}</code>`,
  ];
  return `<tr data-job-id="${job.id}">${
    cells.map((c) => `<td style="${CELL}">${c}</td>`).join("")
  }</tr>`;
}
