// How `progress()` and `share()` find the job runtime they run in: the
// runtime puts its hooks on `globalThis` under this symbol before a job
// starts; in the notebook the symbol is absent and both are no-ops.

/** The global key of the hooks a job runtime installs. */
export const JOB_HOOKS: unique symbol = Symbol.for("bgjobs.job") as never;

/** What the job runtime offers the job's code. */
export interface JobHooks {
  progress(done: number, total?: number): void;
  share(name: string, value: unknown): void;
}

/** The hooks of the runtime this code runs in, or `undefined` outside a job. */
export function jobHooks(): JobHooks | undefined {
  return (globalThis as Record<symbol, JobHooks | undefined>)[JOB_HOOKS];
}
