/**
 * The jobs of this kernel, by id, with the source each was started from
 * (for tracebacks). `jobs` (`api/jobs.ts`) is the user's view of it; `job()`
 * adds to it.
 *
 * @module
 */
import type { Job } from "./job_state.ts";

/** Every job of this kernel, oldest first. */
export class JobList {
  #jobs = new Map<number, Job<unknown>>();
  #sources = new WeakMap<Job<unknown>, string>();
  #nextId = 1;

  /** Reserves the next id: 1, 2, 3 … */
  nextId(): number {
    return this.#nextId++;
  }

  /** Adds a job started from `source`. */
  add(job: Job<unknown>, source: string): void {
    this.#jobs.set(job.id, job);
    this.#sources.set(job, source);
  }

  /** All jobs, oldest first. */
  list(): Job<unknown>[] {
    return [...this.#jobs.values()];
  }

  /** One job by id, or `undefined`. */
  get(id: number): Job<unknown> | undefined {
    return this.#jobs.get(id);
  }

  /** The source a job was started from. */
  source(job: Job<unknown>): string {
    return this.#sources.get(job) ?? "";
  }

  /** Forgets a job. */
  delete(job: Job<unknown>): void {
    this.#jobs.delete(job.id);
  }
}

/** The jobs of this kernel. */
export const jobList: JobList = new JobList();
