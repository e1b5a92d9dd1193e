// Shared test helpers: jobs outlive a test (the warm pool), so tests that
// start jobs turn off Deno's op and resource sanitizers.
import { type Job, job, type JobOptions, jobs } from "../mod.ts";
import { allowDirectSpawns } from "../lib/launch/launch.ts";

/** `Deno.test` for tests that start jobs. */
export function jobTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

/** Waits until a job has shared `name` (e.g. its pid), then returns it. */
export async function shared<T>(
  j: Job<unknown>,
  name: string,
  ms = 10_000,
): Promise<T> {
  const end = Date.now() + ms;
  while (!(name in j.exports)) {
    if (j.status !== "running" && j.status !== "queued") {
      throw new Error(
        `Job ${j.id} ended (${j.status}) before sharing "${name}": ${j.error}`,
      );
    }
    if (Date.now() > end) {
      throw new Error(`Job ${j.id} did not share "${name}" in ${ms} ms`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return j.exports[name] as T;
}

/** Starts a job that shares its pid and then runs `body` (source text). */
export function pidJob(body: string, options: JobOptions = {}): Job<unknown> {
  return job(`share("pid", Deno.pid);\n${body}`, options);
}

/**
 * Runs `fn` with `jobs.configure({ maxRunning })`, then sets it back to 16
 * (the limit the other tests expect), however `fn` ends.
 */
export async function withMaxRunning(
  maxRunning: number,
  fn: () => Promise<void>,
): Promise<void> {
  jobs.configure({ maxRunning });
  try {
    await fn();
  } finally {
    jobs.configure({ maxRunning: 16 });
  }
}

/**
 * Runs `fn` with no warm runtime (`jobs.configure({ warm: 0 })`), so each job
 * starts a runtime of its own, then sets the pool back to its default of 1,
 * however `fn` ends.
 */
export async function withoutWarm(fn: () => Promise<void>): Promise<void> {
  jobs.configure({ warm: 0 });
  try {
    await fn();
  } finally {
    jobs.configure({ warm: 1 });
  }
}

/**
 * Runs `fn` with runtimes started through launchers (what a process without
 * the `ffi` permission does) and no warm runtime, so each job starts one
 * through a launcher; then back to runtimes started directly, one warm.
 */
export async function withLaunchers(fn: () => Promise<void>): Promise<void> {
  allowDirectSpawns(false);
  try {
    await withoutWarm(fn);
  } finally {
    allowDirectSpawns(true);
  }
}
