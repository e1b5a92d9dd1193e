/**
 * `jobs` as the value of a notebook cell: an HTML table of every job, with
 * the text table of `jobs.status()` beside it for text frontends.
 *
 * @module
 */
import type { Job } from "../lib/engine/job_state.ts";
import type { RunnerList } from "../lib/api/jobs.ts";
import {
  COLUMNS,
  formatAttempt,
  formatElapsed,
  outcome,
  textTable,
  truncate,
} from "../lib/engine/text_table.ts";
import {
  badge,
  code,
  escapeHtml,
  progressHtml,
  STATUS_COLORS,
  textOr,
  THEME,
} from "./_html.ts";

const CELL = `padding:4px 10px;border-bottom:1px solid ${THEME.border};` +
  "text-align:left;vertical-align:middle;white-space:nowrap";
const OUTCOME = "display:inline-block;max-width:220px;overflow:hidden;" +
  "text-overflow:ellipsis;vertical-align:middle;white-space:pre";
const HEAD = `${CELL};font-weight:600;background:${THEME.inset}`;

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

const TABLE = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;" +
  `font-size:13px;border-collapse:collapse;margin:0;color:${THEME.text};` +
  `background:${THEME.surface}`;

/**
 * Renders the cluster's runners (`jobs.runners`) as a Jupyter MIME bundle.
 *
 * @param runners The runners.
 * @returns `text/html` (a table) and `text/plain` (`runners.status()`).
 * @example Usage
 * ```ts
 * import { renderRunnersTable } from "./table.ts";
 * import { RunnerList } from "../lib/api/jobs.ts";
 * console.log(renderRunnersTable(new RunnerList())["text/plain"]); // "No runners"
 * ```
 */
export function renderRunnersTable(
  runners: RunnerList,
): Record<string, string> {
  const heads = ["name", "host", "cores", "load", "running"]
    .map((h) => `<th style="${HEAD}">${h}</th>`).join("");
  const rows = runners.map((r) =>
    `<tr>${
      [
        r.name,
        r.host,
        String(r.cores),
        r.load.toFixed(2),
        `${r.running}/${r.concurrency}`,
      ]
        .map((c) => `<td style="${CELL}">${escapeHtml(c)}</td>`).join("")
    }</tr>`
  ).join("");
  return {
    "text/plain": runners.status(),
    "text/html":
      `<table class="bgjobs-runners" style="${TABLE}"><thead><tr>${heads}</tr></thead><tbody>${rows}</tbody></table>`,
  };
}

function htmlTable(list: readonly Job<unknown>[]): string {
  const style = TABLE;
  if (list.length === 0) {
    return `<div class="bgjobs-table" style="${style};display:inline-block;` +
      `padding:2px 6px;color:${THEME.muted}">No jobs</div>`;
  }
  const heads = COLUMNS.map((h) => `<th style="${HEAD}">${h}</th>`).join("");
  const rows = list.map(row).join("");
  return `<table class="bgjobs-table" style="${style}"><thead><tr>${heads}` +
    `</tr></thead><tbody>${rows}</tbody></table>`;
}

// `attempt 2/3` beside the badge, on a retry.
function attemptNote(job: Job<unknown>): string {
  const attempt = formatAttempt(job);
  return attempt
    ? ` <span class="bgjobs-attempt" style="color:${THEME.muted}">${attempt}</span>`
    : "";
}

function row(job: Job<unknown>): string {
  const text = outcome(job);
  const color = job.status === "completed"
    ? THEME.text
    : textOr(STATUS_COLORS[job.status]);
  const cells = [
    `${job.id}`,
    `<span title="${escapeHtml(job.name)}">${
      escapeHtml(truncate(job.name, 40))
    }</span>`,
    badge(job.status) + attemptNote(job),
    escapeHtml(job.where),
    formatElapsed(job.elapsed),
    progressHtml(job, 60),
    code(text, { title: text, style: `${OUTCOME};color:${color}` }),
  ];
  return `<tr data-job-id="${job.id}">${
    cells.map((c) => `<td style="${CELL}">${c}</td>`).join("")
  }</tr>`;
}
