// HTML pieces shared by the live panel and the jobs table. Every style is
// inline: notebook frontends keep inline styles, and a <style> element would
// leak into the rest of the page (and is removed where outputs are
// sanitized).
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

/**
 * Status colours: badge backgrounds (under white text, 5:1 or more), the
 * panel's edge and the progress bar. Fixed, so a badge reads the same on
 * any page, light or dark.
 */
export const STATUS_COLORS: Readonly<Record<JobStatus, string>> = {
  waiting: "#6d28d9",
  queued: "#4b5563",
  running: "#1d4ed8",
  completed: "#15803d",
  failed: "#b91c1c",
  killed: "#b45309",
};

/**
 * Neutral colours that follow the notebook's theme: JupyterLab's (and
 * Notebook 7's) CSS variables, falling back to a light look where they are
 * not defined (classic Notebook). Every text given one of these sits on a
 * background given one of these, so either both resolve from the same
 * theme or both fall back together; and where a frontend sanitizes an
 * untrusted output (JupyterLab drops every `var()` declaration, classic
 * Notebook every style) both go and the text takes the page's own colours.
 */
export const THEME = {
  /** Main text. */
  text: textOr("#1f2328"),
  /** Secondary text (ids, times, notes), on {@linkcode THEME.surface}. */
  muted: "var(--jp-content-font-color2, #57606a)",
  /** The panel's and the table's background. */
  surface: "var(--jp-layout-color1, #fff)",
  /** Blocks set in: output, result, table header. */
  inset: "var(--jp-layout-color2, #f6f8fa)",
  /** Borders and the progress bar's track. */
  border: "var(--jp-border-color2, #d0d7de)",
} as const;

/**
 * The theme's main text colour, or `fallback` where the frontend defines no
 * theme (classic Notebook: a white page), e.g. red for an error there.
 */
export function textOr(fallback: string): string {
  return `var(--jp-content-font-color1, ${fallback})`;
}

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
    `background:${THEME.border};overflow:hidden"><span style="display:block;` +
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

/**
 * `<pre>` text block with the panel's monospace look, set in.
 *
 * @param text The text (escaped here).
 * @param className Its class, e.g. `bgjobs-logs`.
 * @param style More inline style, e.g. another text colour.
 */
export function pre(text: string, className: string, style = ""): string {
  return `<pre class="${className}" style="margin:4px 0 0;padding:6px 8px;` +
    `background:${THEME.inset};color:${THEME.text};border-radius:4px;` +
    `font-size:12px;line-height:1.35;white-space:pre-wrap;` +
    `word-break:break-word;max-height:24em;overflow:auto;${style}">` +
    `${escapeHtml(text)}</pre>`;
}

/**
 * Inline `<code>` whose frontend styling (JupyterLab's code background) is
 * dropped, so it reads in its text's colour on its text's background.
 *
 * @param text The code (escaped here).
 * @param options A `title` (the hover text) and more inline `style`.
 */
export function code(
  text: string,
  options: { title?: string; style?: string } = {},
): string {
  const title = options.title === undefined
    ? ""
    : ` title="${escapeHtml(options.title)}"`;
  return `<code${title} style="background:none;padding:0;color:inherit;` +
    `font-size:inherit;${options.style ?? ""}">${escapeHtml(text)}</code>`;
}
