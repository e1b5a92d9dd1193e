/**
 * The live panel: `job()` in a notebook shows it in the launching cell, and
 * it stays current through `update_display_data` on its own `display_id`.
 *
 * This is the only way a job's output reaches the notebook. The kernel
 * stamps every message with the cell that runs now, so output printed while
 * another cell runs would land in that cell; an update to a display id
 * changes the original display wherever it is.
 *
 * @module
 */
import type { Job, JobState } from "../lib/engine/job_state.ts";
import type { JobOptions } from "../lib/engine/options.ts";
import { sendDisplay } from "./_jupyter.ts";
import { type MimeBundle, renderPanel } from "./panel_view.ts";

/** Least ms between two updates of a panel: at most 10 a second. */
export const MIN_UPDATE_INTERVAL = 100;
/** ms between updates of a running job that reports nothing (its elapsed time ticks). */
export const TICK_INTERVAL = 1000;
/**
 * ms a change waits for the next before it is shown: a job that starts and
 * ends within it shows once, not twice (a thousand short jobs from one cell
 * sent three messages each).
 */
const GATHER = MIN_UPDATE_INTERVAL / 2;

// Panels whose job has not ended, or whose final state is not shown yet.
// Each panel says whether it shows its job's final state with no update
// planned: a change after the end (a warning, an attempt's record) plans one.
const panels = new Set<() => boolean>();

/**
 * Resolves once every panel shows its job's final state with no update left
 * to send (each does within {@linkcode MIN_UPDATE_INTERVAL} ms of the job's
 * last change).
 *
 * @returns A promise of that.
 */
export async function panelsSettled(): Promise<void> {
  for (;;) {
    for (const settled of panels) if (settled()) panels.delete(settled);
    if (panels.size === 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Options for {@linkcode showPanel}. */
export interface PanelOptions {
  /**
   * Sends a display (`update: false`) or an update of it.
   *
   * @default {the kernel's iopub, through Deno.jupyter.broadcast}
   */
  send?: (data: MimeBundle, displayId: string, update: boolean) => void;
}

/**
 * Shows a job's live panel now (in the cell that is running) and keeps it
 * current: an update at most every {@linkcode MIN_UPDATE_INTERVAL} ms while
 * things change (each change shown within that, after waiting half of it
 * for the next), every {@linkcode TICK_INTERVAL} ms otherwise while the job
 * runs (a queued job's panel has nothing to tick: it waits for the start),
 * and always a final one once it has ended. Its timers never keep a process
 * alive and stop when the job ends. `display: false` shows nothing.
 *
 * @param job The new job.
 * @param state Its state, whose changes drive the updates.
 * @param options The job's options (only `display` is read).
 * @param panelOptions Where displays go.
 * @returns The panel's `display_id`, or `undefined` when none is shown.
 * @example Usage
 * ```ts ignore
 * import { jobObservers } from "../lib/api/job.ts";
 * import { showPanel } from "./panel.ts";
 * jobObservers.add(showPanel);
 * ```
 */
export function showPanel(
  job: Job<unknown>,
  state: JobState,
  options: JobOptions = {},
  panelOptions: PanelOptions = {},
): string | undefined {
  if (options.display === false) return undefined;
  const send = panelOptions.send ?? sendDisplay;
  const displayId = `bgjobs-${job.uuid}`;
  let last = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let due = Infinity;

  const publish = (update: boolean): void => {
    try {
      send(renderPanel(job), displayId, update);
    } catch { /* the kernel is going away; the job goes on */ }
  };
  const plan = (at: number): void => {
    if (timer !== undefined && due <= at) return;
    clearTimeout(timer);
    due = at;
    const id = setTimeout(flush, Math.max(0, at - Date.now()));
    Deno.unrefTimer(id);
    timer = id;
  };
  const flush = (): void => {
    timer = undefined;
    due = Infinity;
    last = Date.now();
    publish(true);
    if (state.status === "running") plan(last + TICK_INTERVAL);
    else if (state.finished) panels.delete(settled); // nothing holds it now
  };
  const settled = (): boolean => state.finished && timer === undefined;

  publish(false);
  if (!state.finished) panels.add(settled);
  // Every change, the start and the end included, is shown within 100 ms;
  // only a running job's elapsed time ticks, so no timer outlives the job
  // and a thousand queued jobs cost nothing until they start.
  state.subscribe(() => {
    panels.add(settled);
    plan(Math.max(last + MIN_UPDATE_INTERVAL, Date.now() + GATHER));
  });
  if (state.status === "running") plan(last + TICK_INTERVAL);
  return displayId;
}
