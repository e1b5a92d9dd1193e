/**
 * Errors a job can end with. Each carries the underlying reason as `cause`.
 *
 * @module
 */
import type { RemoteError } from "../protocol/messages.ts";

export type { RemoteError } from "../protocol/messages.ts";

/**
 * A job failed: it threw, crashed, ran out of memory or was refused by a
 * permission check inside its runtime.
 *
 * @example Usage
 * ```ts
 * import { JobError } from "./errors.ts";
 * const e = new JobError("Job 1 failed: boom", { remote: { name: "Error", message: "boom" } });
 * console.log(e.remote?.message); // "boom"
 * ```
 */
export class JobError extends Error {
  /** The error as the job runtime saw it, when it came from user code. */
  readonly remote: RemoteError | undefined;

  /**
   * Creates a job error.
   *
   * @param message What failed and what to do about it.
   * @param options `cause` and the `remote` error.
   */
  constructor(
    message: string,
    options: { cause?: unknown; remote?: RemoteError } = {},
  ) {
    super(message, {
      cause: options.cause ?? (options.remote && reviveError(options.remote)),
    });
    this.name = "JobError";
    this.remote = options.remote;
    if (options.remote?.stack) {
      this.stack =
        `${this.name}: ${message}\n    --- in the job runtime ---\n${options.remote.stack}`;
    }
  }
}

/**
 * A job was stopped by `kill()`, `jobs.kill()` or its `signal`.
 *
 * @example Usage
 * ```ts
 * import { JobKilledError } from "./errors.ts";
 * const e = new JobKilledError("Job 1 was killed");
 * console.log(e.name); // "JobKilledError"
 * ```
 */
export class JobKilledError extends JobError {
  /**
   * Creates a killed-job error.
   *
   * @param message Which job was killed.
   * @param options `cause`: the abort reason, when there was one.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = "JobKilledError";
  }
}

/**
 * A job ran past its `timeout` and was killed.
 *
 * @example Usage
 * ```ts
 * import { JobTimeoutError } from "./errors.ts";
 * const e = new JobTimeoutError("Job 1 timed out after 50 ms");
 * console.log(e instanceof Error); // true
 * ```
 */
export class JobTimeoutError extends JobError {
  /**
   * Creates a timeout error.
   *
   * @param message Which job timed out and after how long.
   * @param options `cause`: the timeout reason.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = "JobTimeoutError";
  }
}

/** Rebuilds an Error (with its `cause` chain) from a remote description. */
function reviveError(remote: RemoteError): Error {
  const error = new Error(remote.message);
  error.name = remote.name;
  error.stack = remote.stack ?? `${remote.name}: ${remote.message}`;
  if (remote.cause !== undefined) error.cause = reviveError(remote.cause);
  return error;
}
