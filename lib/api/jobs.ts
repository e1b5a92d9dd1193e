/**
 * `jobs`: every job of this kernel, by id.
 *
 * @module
 */
import {
  type Job,
  type JobKill,
  type JobStatus,
  stateOf,
} from "../engine/job_state.ts";
import { JobTimeoutError } from "../engine/errors.ts";
import { backend, closeCluster, clusterRunners } from "../engine/backend.ts";
import type { RunnerInfo } from "../protocol/messages.ts";
import { jobList } from "../engine/job_list.ts";
import { configure, type ConfigureOptions } from "./configure.ts";
import { formatTraceback } from "../engine/traceback.ts";
import { mapJob, type MapOptions } from "./map.ts";
import { textTable } from "../engine/text_table.ts";
import { attachJobs } from "../engine/attach.ts";
import {
  closeDetachedLink,
  forgetDetached,
  isDetached,
  stopDetachedCluster,
} from "../engine/detached.ts";
import { jobObservers } from "./job.ts";

/**
 * What `jobs.wait()` waits for once every job has finished: the notebook's
 * displays of them showing their final state (set by the kernel extension).
 */
export const settleHooks: Set<() => Promise<void>> = new Set();

/** The runners of the cluster; shown in a cell, a table. */
export class RunnerList extends Array<RunnerInfo> {
  /** The runners as a text table. */
  status(): string {
    if (this.length === 0) return "No runners";
    const rows = [["name", "host", "cores", "load", "running"]];
    for (const r of this) {
      rows.push([
        r.name,
        r.host,
        String(r.cores),
        r.load.toFixed(2),
        `${r.running}/${r.concurrency}`,
      ]);
    }
    const widths = rows[0].map((_, c) =>
      Math.max(...rows.map((row) => row[c].length))
    );
    return rows.map((row) =>
      row.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd()
    ).join("\n");
  }

  /** `console.log(jobs.runners)` prints the table. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.status();
  }
}

/** Every job of this kernel. Shown in a cell, it renders as a table. */
export class JobRegistry {
  /** All jobs, oldest first. */
  list(): Job<unknown>[] {
    return jobList.list();
  }

  /**
   * One job by id.
   *
   * @param id The job's id.
   * @returns The job, or `undefined`.
   */
  get(id: number): Job<unknown> | undefined {
    return jobList.get(id);
  }

  /** Jobs waiting for the jobs of their `after` to complete. */
  get waiting(): Job<unknown>[] {
    return this.#with("waiting");
  }
  /** Jobs waiting for a free slot, or for their next attempt. */
  get queued(): Job<unknown>[] {
    return this.#with("queued");
  }
  /** Jobs running now. */
  get running(): Job<unknown>[] {
    return this.#with("running");
  }
  /** Jobs that returned a result. */
  get completed(): Job<unknown>[] {
    return this.#with("completed");
  }
  /** Jobs that threw, crashed or timed out. */
  get failed(): Job<unknown>[] {
    return this.#with("failed");
  }
  /** Jobs that were killed. */
  get killed(): Job<unknown>[] {
    return this.#with("killed");
  }

  #with(status: JobStatus): Job<unknown>[] {
    return this.list().filter((j) => j.status === status);
  }

  #find(idOrJob: number | Job<unknown>): Job<unknown> {
    const id = typeof idOrJob === "number" ? idOrJob : idOrJob?.id;
    const job = typeof id === "number" ? jobList.get(id) : undefined;
    if (!job) {
      throw new RangeError(
        `No job ${
          String(id ?? idOrJob)
        }: see jobs.list() for the jobs there are`,
      );
    }
    return job;
  }

  /** The jobs as a text table. */
  status(): string {
    return textTable(this.list());
  }

  /**
   * Stops a job and everything it started.
   *
   * @param idOrJob The job or its id.
   * @returns A promise that resolves once its runtime is gone; as a cell's
   * value it shows "Job 2 (…) killed" once it is.
   * @throws {RangeError} When there is no such job.
   */
  kill(idOrJob: number | Job<unknown>): JobKill {
    return this.#find(idOrJob).kill();
  }

  /**
   * Waits until every job has finished (a waiting one once it has run, or
   * failed because a job it waits for did) and every display of them shows
   * its final state. Make it the last cell of a notebook run headlessly
   * (`jupyter nbconvert --execute`, papermill): such runs keep only the
   * updates that arrive while a cell runs.
   *
   * @param options `timeout`: give up waiting after this many ms.
   * @returns The jobs, once all have finished.
   * @throws {JobTimeoutError} When `timeout` passed first (jobs go on).
   * @throws {RangeError} On a `timeout` that is not a number ≥ 0.
   * @example Usage
   * ```ts
   * import { job, jobs } from "../../mod.ts";
   * job(() => 1 + 1);
   * const all = await jobs.wait();
   * console.log(all.every((j) => j.status !== "running")); // true
   * await jobs.shutdown();
   * ```
   */
  async wait(options: { timeout?: number } = {}): Promise<Job<unknown>[]> {
    const { timeout } = options;
    if (timeout !== undefined && !(timeout >= 0)) {
      throw new RangeError(
        `Cannot wait ${
          String(timeout)
        } ms: pass a number ≥ 0, e.g. { timeout: 60_000 }`,
      );
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      if (timeout === undefined) return;
      timer = setTimeout(() => {
        const left = this.list().filter((j) => !stateOf(j).finished);
        reject(
          new JobTimeoutError(
            `Jobs ${
              left.map((j) => j.id).join(", ")
            } still running after ${timeout} ms; they go on: kill them with jobs.killAll(), or wait longer`,
          ),
        );
      }, timeout);
    });
    try {
      // Jobs started while waiting are waited for too.
      for (;;) {
        const open = this.list().filter((j) => !stateOf(j).finished);
        if (open.length === 0) break;
        await Promise.race([Promise.all(open.map((j) => j.done)), late]);
      }
      await Promise.race([
        Promise.all([...settleHooks].map((settled) => settled())),
        late,
      ]);
      return this.list();
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops every job; resolves once all their runtimes are gone. */
  async killAll(): Promise<void> {
    await Promise.all(this.list().map((j) => j.kill()));
  }

  /**
   * A finished job's result.
   *
   * @param idOrJob The job or its id.
   * @returns The result of a completed job.
   * @throws {Error} The job's error when it failed or was killed.
   * @throws {RangeError} When there is no such job or it has not finished.
   */
  result(idOrJob: number | Job<unknown>): unknown {
    const job = this.#find(idOrJob);
    if (job.status === "completed") return job.result;
    if (job.error) throw job.error;
    throw new RangeError(
      `Job ${job.id} has not finished: await it, or await job.done`,
    );
  }

  /**
   * A failed job's stack with its source lines.
   *
   * @param idOrJob The job or its id.
   * @returns The traceback, or an empty string when the job has no error.
   */
  traceback(idOrJob: number | Job<unknown>): string {
    const job = this.#find(idOrJob);
    return job.error ? formatTraceback(job.error, jobList.source(job)) : "";
  }

  /**
   * Forgets a finished job; a detached one also in its cluster's store (its
   * record and its events), so no later kernel finds it.
   *
   * @param idOrJob The job or its id.
   * @returns Resolves once a detached job is gone from the store.
   * @throws {TypeError} When the job is still queued or running.
   */
  remove(idOrJob: number | Job<unknown>): Promise<void> {
    const job = this.#find(idOrJob);
    const state = stateOf(job);
    if (!state.finished) {
      throw new TypeError(
        `Cannot remove job ${job.id}: it is ${job.status}; kill it first with jobs.kill(${job.id})`,
      );
    }
    jobList.delete(job);
    return forgetDetached(state);
  }

  /**
   * After a kernel restart: finds this notebook's detached jobs kept in the
   * cluster (the configured one, or else the durable local one, started
   * when it does not run) and lists them in `jobs` with new ids, each with
   * its status, output, progress and result or error as they are; a code
   * job's exports are written into the notebook (or stay in `job.exports`
   * with a warning). Running ones go on: `await`, `kill()` and their panels
   * work as for any job. Jobs this kernel lists already are left alone, but
   * for those a notebook kernel listed at import (when the durable local
   * cluster ran): their exports are written now and their panels shown.
   *
   * @returns The jobs found or listed at import, once what they have done
   * so far is read.
   * @throws {Error} When the cluster cannot be reached or started.
   * @example Usage
   * ```ts ignore
   * import { jobs } from "jsr:@x/bgjobs";
   * const found = await jobs.attach();
   * jobs; // the table, with the jobs found
   * ```
   */
  async attach(): Promise<Job<unknown>[]> {
    const found = await attachJobs();
    for (const [job, state] of found) {
      for (const observe of jobObservers) observe(job, state, {});
    }
    return found.map(([job]) => job);
  }

  /**
   * Stops the durable local cluster detached jobs run on when no cluster is
   * configured (its runner, killing the jobs it runs, then its
   * `nats-server`). What it keeps (records, events) stays on disk for the
   * next start. `jobs.configure({ cluster: null })` does not stop it.
   *
   * @returns Whether it was running.
   */
  stopDetachedCluster(): Promise<boolean> {
    return stopDetachedCluster();
  }

  /**
   * Forgets every finished job in this kernel; detached ones stay in their
   * cluster's store (`jobs.remove()` removes them there).
   *
   * @returns How many.
   */
  flush(): number {
    const done = this.list().filter((j) => stateOf(j).finished);
    for (const job of done) jobList.delete(job);
    return done.length;
  }

  /**
   * Sets defaults for later jobs and the engine's limits.
   *
   * @param options What to change.
   * @returns Resolves once a `cluster` asked for is connected (at once
   * otherwise); rejects when it cannot be.
   * @throws {TypeError} On options that are not an object, or bad
   * permissions or cluster.
   * @throws {RangeError} On a count out of range.
   * @example Usage
   * ```ts ignore
   * import { job, jobs } from "jsr:@x/bgjobs";
   * await jobs.configure({ cluster: "local" });
   * await job(() => Deno.hostname(), { on: "cluster" });
   * ```
   */
  configure(options: ConfigureOptions): Promise<void> {
    return configure(options);
  }

  /** The cluster's runners heard from lately: name, host, cores, load, jobs. */
  get runners(): RunnerList {
    return RunnerList.from(clusterRunners()) as RunnerList;
  }

  /**
   * Runs `fn(item, index)` over `items` as one job on several runtimes
   * (`concurrency`, default the number of cores); its result is the array of
   * results in order, its progress the items done. An item's failure fails
   * the job and names the item's index; `kill()` stops every runtime of it.
   *
   * @param items An array or any iterable.
   * @param fn The function, sent with the notebook names it uses.
   * @param options Job options plus `concurrency`.
   * @returns The map job.
   * @throws {TypeError} On bad items, function or options.
   * @example Usage
   * ```ts ignore
   * import { jobs } from "../../mod.ts";
   * const squares = await jobs.map([1, 2, 3], (x) => x * x); // [1, 4, 9]
   * ```
   */
  map<I, R>(
    items: Iterable<I> | ArrayLike<I>,
    fn: (item: I, index: number) => R | Promise<R>,
    options?: MapOptions,
  ): Job<Awaited<R>[]> {
    return mapJob(items, fn, options);
  }

  /**
   * Kills every job but detached ones (they run on, for a later
   * `jobs.attach()`) and every idle runtime, and closes the cluster
   * connections (for the end of a script or test).
   */
  async shutdown(): Promise<void> {
    await Promise.all(
      this.list().filter((j) => !isDetached(stateOf(j))).map((j) => j.kill()),
    );
    await backend().drain();
    await closeCluster();
    await closeDetachedLink();
  }

  /** Outside Jupyter, `console.log(jobs)` prints the text table. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.status();
  }
}

/** The registry of this kernel. */
export const jobs: JobRegistry = new JobRegistry();
