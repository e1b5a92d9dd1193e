/**
 * Background jobs for Deno Jupyter notebooks.
 *
 * `job(() => work())` starts the work in its own Deno process, with only the
 * permissions it asks for, and returns at once: the notebook stays usable.
 * `await` the job for its result; `jobs` lists every job; `jobs.kill(id)`
 * stops one for real, whatever it is doing.
 *
 * @example Usage
 * ```ts
 * import { job, jobs } from "./mod.ts";
 *
 * const j = job(() => {
 *   let sum = 0;
 *   for (let i = 0; i < 1e6; i++) sum += i;
 *   return sum;
 * }, { permissions: "none" });
 * console.log(await j); // 499999500000
 * console.log(jobs.status());
 * await jobs.shutdown();
 * ```
 *
 * @module
 */
export { job, type JobResults } from "./lib/api/job.ts";
export { JobRegistry, jobs, RunnerList } from "./lib/api/jobs.ts";
export type { RunnerInfo, WirePermissions } from "./lib/protocol/messages.ts";
export type { ClusterOptions } from "./lib/cluster/cluster_options.ts";
export type { ConfigureOptions } from "./lib/api/configure.ts";
export { progress, share } from "./lib/runtime/report.ts";
export {
  Job,
  type JobAttempt,
  JobKill,
  type JobProgress,
  type JobStatus,
} from "./lib/engine/job_state.ts";
export type { JobOptions, RetryOptions } from "./lib/engine/options.ts";
export type { MapOptions } from "./lib/api/map.ts";
export type {
  JobPermissions,
  PermissionName,
  PermissionSet,
  PermissionValue,
} from "./lib/sandbox/permissions.ts";
export {
  JobError,
  JobKilledError,
  JobTimeoutError,
  type RemoteError,
} from "./lib/engine/errors.ts";
// Inside a `deno jupyter` kernel: live panels and the `jobs` table. Elsewhere a no-op.
import "./kernel_ext/register.ts";
