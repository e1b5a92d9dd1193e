/**
 * Turns on the notebook experience when, and only when, bgjobs is imported
 * inside a `deno jupyter` kernel: every new job gets a live panel in the
 * launching cell, `jobs` as a cell's value renders as a table, and after a
 * big result one of its size is made ready for the next. Elsewhere
 * (a plain script, a job runtime, tests) importing this does nothing.
 *
 * `mod.ts` imports it for its effect. In a kernel, when this machine's
 * durable local cluster runs, it also lists the notebook's detached jobs in
 * `jobs` (reading them starts no process); nothing else starts at import.
 *
 * @module
 */
import { JobRegistry, RunnerList, settleHooks } from "../lib/api/jobs.ts";
import { JobKill } from "../lib/engine/job_state.ts";
import { jobObservers } from "../lib/api/job.ts";
import { listAtImport } from "../lib/engine/attach.ts";
import { prepareAhead } from "../lib/engine/backend.ts";
import { inKernel, sendDisplay } from "./_jupyter.ts";
import { panelsSettled, showPanel } from "./panel.ts";
import { renderJobsTable, renderRunnersTable } from "./table.ts";

const JUPYTER_DISPLAY = Symbol.for("Jupyter.display");

/**
 * Registers the panel and the table renderer (idempotent).
 *
 * @returns Whether they are registered, i.e. this runs inside a kernel.
 * @example Usage
 * ```ts
 * import { registerKernelExtension } from "./register.ts";
 * console.log(registerKernelExtension()); // false outside a notebook
 * ```
 */
export function registerKernelExtension(): boolean {
  if (!inKernel()) return false;
  jobObservers.add(showPanel);
  // `jobs` as a cell's value: Deno's kernel renders what this returns.
  Object.defineProperty(JobRegistry.prototype, JUPYTER_DISPLAY, {
    value(this: JobRegistry): Record<string, string> {
      return renderJobsTable(this.list());
    },
    configurable: true,
  });
  // `jobs.kill(id)` as a cell's value: "killing…", then "killed" in place.
  Object.defineProperty(JobKill.prototype, JUPYTER_DISPLAY, {
    value(this: JobKill): Record<string, string> {
      const shown = () => ({ "text/plain": this.describe() });
      if (this.settled) return shown();
      const id = `bgjobs-kill-${crypto.randomUUID()}`;
      sendDisplay(shown(), id, false);
      const update = () => sendDisplay(shown(), id, true);
      this.then(update, update);
      return {}; // the display above is the cell's output
    },
    configurable: true,
  });
  Object.defineProperty(RunnerList.prototype, JUPYTER_DISPLAY, {
    value(this: RunnerList): Record<string, string> {
      return renderRunnersTable(this);
    },
    configurable: true,
  });
  settleHooks.add(panelsSettled);
  // The next big result of a size comes into a buffer made ready meanwhile.
  prepareAhead(true);
  return true;
}

// A new kernel lists its notebook's detached jobs at once; their exports
// wait for `jobs.attach()`.
if (registerKernelExtension()) listAtImport();
