/**
 * What a job's live panel shows, as a Jupyter MIME bundle: HTML for
 * notebooks and `text/plain` for text frontends. Pure rendering: it reads
 * the job and sends nothing.
 *
 * @module
 */
import { type Job, type JobState, stateOf } from "../lib/engine/job_state.ts";
import { jobs } from "../lib/api/jobs.ts";
import { formatTraceback } from "../lib/engine/traceback.ts";
import {
  formatAttempt,
  formatElapsed,
  formatProgress,
  preview,
  truncate,
} from "../lib/engine/text_table.ts";
import {
  badge,
  code,
  escapeHtml,
  eta,
  pre,
  progressHtml,
  rate,
  STATUS_COLORS,
  stripAnsi,
  textOr,
  THEME,
} from "./_html.ts";

/** Lines of output a panel shows. */
export const PANEL_LOG_LINES = 10;
const MAX_LINE = 400;
const MAX_PREVIEW = 2000;

/** A Jupyter MIME bundle. */
export type MimeBundle = Record<string, string>;

/**
 * Renders a job's panel as it is now.
 *
 * @param job The job.
 * @returns `text/html` and `text/plain` renderings.
 * @example Usage
 * ```ts ignore
 * import { renderPanel } from "./panel_view.ts";
 * Deno.jupyter.broadcast("display_data", { data: renderPanel(j), metadata: {}, transient: {} });
 * ```
 */
export function renderPanel(job: Job<unknown>): MimeBundle {
  const state = stateOf(job);
  const parts = panelParts(job, state);
  return {
    "text/plain": panelText(job, parts),
    "text/html": panelHtml(job, parts),
  };
}

interface PanelParts {
  lines: string[];
  /** `attempt 2/3` on a retry, else `""`. */
  attempt: string;
  /** Why the attempt before failed, while a retry runs or after it completed. */
  retried: string | undefined;
  outcome: { kind: "result" | "error"; text: string } | undefined;
  eta: string | undefined;
  rate: string | undefined;
}

function panelParts(job: Job<unknown>, state: JobState): PanelParts {
  const lines = state.logs.tail(PANEL_LOG_LINES)
    .map((line) => truncate(stripAnsi(lastRewrite(line)), MAX_LINE));
  let outcome: PanelParts["outcome"];
  if (job.status === "completed") {
    outcome = {
      kind: "result",
      text: preview(job.result, { max: MAX_PREVIEW, multiline: true }),
    };
  } else if (job.error) {
    outcome = { kind: "error", text: tracebackOf(job) };
  }
  const attempt = formatAttempt(job);
  const last = job.attempts.findLast((a) => a.error);
  const retried = attempt && last?.error && !job.error
    ? `attempt ${last.attempt} failed: ${last.error.message}`
    : undefined;
  return { lines, attempt, retried, outcome, eta: eta(job), rate: rate(job) };
}

// A line redrawn with "\r" (a terminal progress bar) shows as it ended.
function lastRewrite(line: string): string {
  return line.replace(/\r+$/, "").split("\r").at(-1)!;
}

function tracebackOf(job: Job<unknown>): string {
  try {
    return jobs.traceback(job);
  } catch { // removed from the registry: no source to show beside frames
    return formatTraceback(job.error!, "");
  }
}

function panelHtml(job: Job<unknown>, parts: PanelParts): string {
  const color = STATUS_COLORS[job.status];
  const muted = `color:${THEME.muted}`;
  const rows: string[] = [];
  rows.push(
    `<div style="display:flex;gap:8px;align-items:center;flex-wrap:wrap">` +
      `<strong class="bgjobs-name">${
        escapeHtml(truncate(job.name, 80))
      }</strong>` +
      `<span style="${muted}">job ${job.id}</span>${badge(job.status)}` +
      (parts.attempt
        ? `<span class="bgjobs-attempt" style="${muted}">${parts.attempt}</span>`
        : "") +
      `<span class="bgjobs-elapsed" style="${muted}">` +
      `${formatElapsed(job.elapsed)}</span>` +
      (job.where === "local"
        ? ""
        : `<span class="bgjobs-where" style="${muted}">on ${
          escapeHtml(job.where)
        }</span>`) +
      `</div>`,
  );
  if (parts.retried) {
    rows.push(
      `<div class="bgjobs-retried" style="${muted};margin-top:4px">` +
        `${escapeHtml(truncate(parts.retried, MAX_LINE))}</div>`,
    );
  }
  const progress = progressHtml(job, 240);
  if (progress) {
    const speed = parts.rate
      ? ` · <span class="bgjobs-rate">${parts.rate}</span>`
      : "";
    const left = parts.eta
      ? ` · ETA <span class="bgjobs-eta">${parts.eta}</span>`
      : "";
    rows.push(`<div style="margin-top:6px">${progress}${speed}${left}</div>`);
  }
  if (parts.lines.length > 0) {
    rows.push(pre(parts.lines.join("\n"), "bgjobs-logs"));
    rows.push(
      `<div style="${muted};font-size:11px">last ${PANEL_LOG_LINES} lines ` +
        `at most; all output in ${code(`jobs.get(${job.id}).logs`)}</div>`,
    );
  }
  for (const warning of job.warnings) {
    rows.push(
      `<div class="bgjobs-warning" style="margin-top:4px;padding-left:6px;` +
        `border-left:3px solid ${STATUS_COLORS.killed}">` +
        `⚠ ${escapeHtml(warning)}</div>`,
    );
  }
  if (parts.outcome?.kind === "result") {
    rows.push(`<div style="margin-top:6px">Result</div>`);
    rows.push(pre(parts.outcome.text, "bgjobs-result"));
  } else if (parts.outcome) {
    const label = job.status === "killed" ? "Killed" : "Error";
    rows.push(`<div style="margin-top:6px;font-weight:600">${label}</div>`);
    rows.push(pre(
      parts.outcome.text,
      "bgjobs-error",
      `color:${textOr("#991b1b")};border-left:3px solid ${color}`,
    ));
  }
  return `<div class="bgjobs-panel" data-job-id="${job.id}" ` +
    `data-status="${job.status}" style="font-family:system-ui,-apple-system,` +
    `'Segoe UI',sans-serif;font-size:13px;color:${THEME.text};` +
    `background:${THEME.surface};border:1px solid ${THEME.border};` +
    `border-left:4px solid ${color};border-radius:6px;padding:8px 10px;` +
    `max-width:760px">${rows.join("")}</div>`;
}

function panelText(job: Job<unknown>, parts: PanelParts): string {
  const attempt = parts.attempt ? ` · ${parts.attempt}` : "";
  const out = [
    `Job ${job.id} · ${truncate(job.name, 80)} · ${job.status}${attempt} · ${
      formatElapsed(job.elapsed)
    }${job.where === "local" ? "" : ` · on ${job.where}`}`,
  ];
  if (parts.retried) out.push(truncate(parts.retried, MAX_LINE));
  if (job.progress) {
    const p = job.progress;
    const bar = p.total ? `[${textBar(p.done / p.total, 20)}] ` : "";
    const speed = parts.rate ? ` · ${parts.rate}` : "";
    const left = parts.eta ? ` · ETA ${parts.eta}` : "";
    out.push(`${bar}${formatProgress(job)}${speed}${left}`);
  }
  for (const line of parts.lines) out.push(`│ ${line}`);
  for (const warning of job.warnings) out.push(`⚠ ${warning}`);
  if (parts.outcome?.kind === "result") {
    out.push(`Result: ${parts.outcome.text}`);
  } else if (parts.outcome) out.push(parts.outcome.text);
  return out.join("\n");
}

function textBar(ratio: number, width: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, ratio)) * width);
  return "#".repeat(filled) + "·".repeat(width - filled);
}
