// The only place bgjobs touches `Deno.jupyter`. Outside `deno jupyter` the
// property exists but reading it throws ("only available in `deno jupyter`
// subcommand"); job runtimes are plain `deno run` processes, so they never
// count as a kernel.

/** Whether this code runs inside a `deno jupyter` kernel. */
export function inKernel(): boolean {
  try {
    return typeof Deno.jupyter?.broadcast === "function";
  } catch {
    return false;
  }
}

/**
 * Publishes a display, or replaces one, on iopub now.
 *
 * `Deno.jupyter.display()` awaits its formatting before it sends, so a
 * display started by `job()` could land after the launching cell ended and
 * be stamped with the next cell. `broadcast()` sends synchronously, stamped
 * with the cell that runs this very moment.
 *
 * @param data The MIME bundle.
 * @param displayId The display to create or update.
 * @param update `true` for `update_display_data` (the display wherever it
 * is), `false` for a new `display_data` in the current cell.
 */
export function sendDisplay(
  data: Record<string, string>,
  displayId: string,
  update: boolean,
): void {
  Deno.jupyter.broadcast(update ? "update_display_data" : "display_data", {
    data,
    metadata: {},
    transient: { display_id: displayId },
  });
}
