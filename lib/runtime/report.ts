/**
 * `progress()` and `share()`: what a job's code calls to report back. In the
 * notebook (outside a job) both do nothing, so a function that calls them can
 * be tried in the notebook first and then sent to a job.
 *
 * @module
 */

/** The global key of the hooks a job runtime installs before a job starts. */
export const JOB_HOOKS: unique symbol = Symbol.for("bgjobs.job") as never;

/** What the job runtime offers the job's code. */
export interface JobHooks {
  /** Sends progress to the kernel (coalesced). */
  progress(done: number, total?: number): void;
  /** Sends a shared value to the kernel. */
  share(name: string, value: unknown): void;
}

// Outside a job the symbol is absent: progress() and share() do nothing.
function jobHooks(): JobHooks | undefined {
  return (globalThis as Record<symbol, JobHooks | undefined>)[JOB_HOOKS];
}

/**
 * Reports a job's progress; its panel shows a bar, percent and ETA. Calls are
 * coalesced to at most ~20 a second, and the last one always arrives.
 *
 * @param done Units done so far.
 * @param total Units in all, when known.
 * @throws {TypeError} When `done` or `total` is not a finite number.
 * @example Usage
 * ```ts
 * import { progress } from "./report.ts";
 * for (let i = 0; i < 10; i++) progress(i + 1, 10); // a no-op outside a job
 * ```
 */
export function progress(done: number, total?: number): void {
  if (
    !Number.isFinite(done) || (total !== undefined && !Number.isFinite(total))
  ) {
    throw new TypeError(
      `Cannot report progress ${done}/${total}: pass finite numbers, e.g. progress(3, 10)`,
    );
  }
  jobHooks()?.progress(done, total);
}

/**
 * Publishes a value from a job now: it appears at once as
 * `job.exports[name]` in the notebook.
 *
 * @param name The key in `job.exports`.
 * @param value Any value that can be sent (structured-clone data).
 * @throws {TypeError} When `name` is not a string or the value cannot be sent.
 * @example Usage
 * ```ts
 * import { share } from "./report.ts";
 * share("partial", [1, 2, 3]); // a no-op outside a job
 * ```
 */
export function share(name: string, value: unknown): void {
  if (typeof name !== "string" || name === "") {
    throw new TypeError(
      `Cannot share under ${String(name)}: pass a non-empty name`,
    );
  }
  jobHooks()?.share(name, value);
}

// Whichever copy of bgjobs a notebook imported, its `progress` and `share`
// are the job runtime's globals, never values to send (see
// `capture/notebook.ts`).
for (const fn of [progress, share]) {
  Object.defineProperty(fn, Symbol.for("bgjobs.runtimeGlobal"), {
    value: true,
  });
}
