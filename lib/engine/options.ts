/**
 * The options of a job, checked before anything starts.
 *
 * @module
 */
import type { JobPermissions } from "../sandbox/permissions.ts";

/** Options of {@linkcode job}. */
export interface JobOptions {
  /**
   * Label shown in panels and tables.
   *
   * @default {the function or code text, shortened}
   */
  name?: string;
  /**
   * What the job runtime may do: `"inherit"` (what the kernel has),
   * `"none"`, or Deno's object form `{ read, write, net, env, run, ffi, sys,
   * import }`, each `true` or a list of paths, hosts, variables or commands.
   *
   * @default {"inherit"}
   */
  permissions?: JobPermissions;
  /**
   * Milliseconds the job may run; past it the job is killed and fails with a
   * `JobTimeoutError`.
   *
   * @default {undefined}
   */
  timeout?: number;
  /**
   * Heap cap of the job runtime in MB; a job over it fails with an
   * out-of-memory `JobError` and the kernel lives on.
   *
   * @default {Deno's default}
   */
  memory?: number;
  /**
   * Aborting this signal kills the job.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Show the live panel in the launching cell.
   *
   * @default {true inside a notebook}
   */
  display?: boolean;
  /**
   * Where the job runs: `"local"`, a job runtime on this machine, or
   * `"cluster"`, a runner of the cluster set with
   * `jobs.configure({ cluster })`. There, `"inherit"` permissions mean what
   * the runner allows (its `--max-permissions`).
   *
   * @default {"local"}
   */
  on?: "local" | "cluster";
}

const KNOWN = new Set([
  "name",
  "permissions",
  "timeout",
  "memory",
  "signal",
  "display",
  "on",
]);

/**
 * Checks a job's options and returns them.
 *
 * @param options The options as given.
 * @returns The same options, known to be well formed.
 * @throws {TypeError} On an unknown option or one of the wrong type.
 * @throws {RangeError} On a timeout or memory out of range.
 */
export function checkJobOptions(options: unknown): JobOptions {
  if (options === undefined) return {};
  if (
    typeof options !== "object" || options === null || Array.isArray(options)
  ) {
    throw new TypeError(
      `Cannot use job options ${
        String(options)
      }: pass an object like { timeout: 5000 }`,
    );
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key)) {
      throw new TypeError(
        `Unknown job option "${key}": use one of ${[...KNOWN].join(", ")}`,
      );
    }
  }
  if (o.name !== undefined && typeof o.name !== "string") {
    throw new TypeError(`Cannot use name ${String(o.name)}: pass a string`);
  }
  checkNumber("timeout", o.timeout, 1, 2 ** 31 - 1, "milliseconds");
  checkNumber("memory", o.memory, 16, 1024 * 1024, "MB");
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new TypeError(`Cannot use signal: pass an AbortSignal`);
  }
  if (o.on !== undefined && o.on !== "local" && o.on !== "cluster") {
    throw new TypeError(
      `Cannot run a job on ${JSON.stringify(o.on)}: pass "local" or "cluster"`,
    );
  }
  if (o.display !== undefined && typeof o.display !== "boolean") {
    throw new TypeError(
      `Cannot use display ${String(o.display)}: pass true or false`,
    );
  }
  return o as JobOptions;
}

function checkNumber(
  name: string,
  value: unknown,
  min: number,
  max: number,
  unit: string,
): void {
  if (value === undefined) return;
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(
      `Cannot use ${name} ${JSON.stringify(value)}: pass a number of ${unit}`,
    );
  }
  if (value < min || value > max) {
    throw new RangeError(
      `Cannot use ${name} ${value}: pass ${unit} from ${min} to ${max}`,
    );
  }
}
