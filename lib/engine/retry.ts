/**
 * Retries: which failed attempts a job's `retries` and `retryOn` run again,
 * and how long the job waits before each. The engine (`drive.ts`) applies
 * them the same way to every backend.
 *
 * @module
 */
import type { JobOptions } from "./options.ts";

/** How an attempt of a job failed, as retries tell failures apart. */
export interface AttemptFailure {
  /** What the job fails with when it is not tried again. */
  error: Error;
  /**
   * `"died"`: its runtime ended before the job did (a signal from outside,
   * an exit) or its runner stopped answering; `"error"`: the job threw, ran
   * out of memory, or sent what could not be read.
   */
  reason: "died" | "error";
}

/** A job's retries, from its options. */
export interface RetryPolicy {
  /** Attempts in all: 1 + `retries`. */
  attempts: number;
  /** The failures retried: deaths only, or errors too. */
  on: "died" | "error";
  /** Milliseconds before the first retry. */
  backoff: number;
}

/** Milliseconds before the first retry when `retries` does not say. */
export const RETRY_BACKOFF_MS = 100;
/** The longest wait between attempts, unless `backoff` itself is longer. */
const MAX_DELAY_MS = 60_000;

/**
 * A job's retries, from its checked options.
 *
 * @param options The job's options.
 * @returns How often, on what, and how long it waits.
 * @example Usage
 * ```ts
 * import { retryPolicy } from "./retry.ts";
 * console.log(retryPolicy({ retries: 2 })); // { attempts: 3, on: "died", backoff: 100 }
 * ```
 */
export function retryPolicy(options: JobOptions): RetryPolicy {
  const { retries = 0, retryOn = "died" } = options;
  const { max, backoff = RETRY_BACKOFF_MS } = typeof retries === "number"
    ? { max: retries }
    : retries;
  return { attempts: max + 1, on: retryOn, backoff };
}

/**
 * Whether a failed attempt is run again.
 *
 * @param policy The job's retries.
 * @param failure How the attempt failed.
 * @param attempt Its number, from 1.
 * @returns `true` when attempts are left and the failure is one retried.
 */
export function retried(
  policy: RetryPolicy,
  failure: AttemptFailure,
  attempt: number,
): boolean {
  return attempt < policy.attempts &&
    (failure.reason === "died" || policy.on === "error");
}

/**
 * How long a job waits before a retry: `backoff`, doubled for each next
 * retry, up to a minute (or `backoff`, when that is longer).
 *
 * @param policy The job's retries.
 * @param retry Which retry: 1 for the first.
 * @returns Milliseconds.
 * @example Usage
 * ```ts
 * import { retryDelay } from "./retry.ts";
 * const policy = { attempts: 4, on: "died" as const, backoff: 100 };
 * console.log([1, 2, 3].map((n) => retryDelay(policy, n))); // [100, 200, 400]
 * ```
 */
export function retryDelay(policy: RetryPolicy, retry: number): number {
  return Math.min(
    policy.backoff * 2 ** (retry - 1),
    Math.max(policy.backoff, MAX_DELAY_MS),
  );
}
