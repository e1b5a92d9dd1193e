/**
 * Turns on the notebook experience when, and only when, bgjobs is imported
 * inside a `deno jupyter` kernel: every new job gets a live panel in the
 * launching cell, and `jobs` as a cell's value renders as a table. Elsewhere
 * (a plain script, a job runtime, tests) importing this does nothing.
 *
 * `mod.ts` imports it for its effect; nothing else starts at import.
 *
 * @module
 */
import { JobRegistry } from "../lib/api/jobs.ts";
import { jobObservers } from "../lib/api/job.ts";
import { inKernel } from "./_jupyter.ts";
import { showPanel } from "./panel.ts";
import { renderJobsTable } from "./table.ts";

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
  return true;
}

registerKernelExtension();
