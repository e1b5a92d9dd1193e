/**
 * A background job as the notebook sees it: its state and its result.
 *
 * @module
 */
import { JobKilledError } from "./errors.ts";
import { LogBuffer } from "./log_buffer.ts";

/**
 * Where a job is in its life: `"waiting"` for the jobs of its `after`,
 * `"queued"` for a free slot (or its next attempt), then `"running"`, then
 * one of the three ends.
 */
export type JobStatus =
  | "waiting"
  | "queued"
  | "running"
  | "completed"
  | "failed"
  | "killed";

/** The last progress a job reported. */
export interface JobProgress {
  /** Units done. */
  done: number;
  /** Units in all, when known. */
  total?: number;
}

/** One run of a job: the first, or a retry (`retries`). */
export interface JobAttempt {
  /** 1 for the first run, 2 for the first retry … */
  readonly attempt: number;
  /** When its runtime took the job. */
  readonly startedAt: Date;
  /** When it ended; `undefined` while it runs. */
  readonly endedAt: Date | undefined;
  /** Why it failed or was stopped, when it did not complete. */
  readonly error?: Error;
  /** Where it ran: `"local"`, or a runner's name and host. */
  readonly where: string;
}

interface AttemptRecord {
  attempt: number;
  startedAt: number;
  endedAt?: number;
  error?: Error;
  where: string;
}

/**
 * The mutable state behind a {@linkcode Job}, written by the engine only.
 * Listeners hear every change (for live panels).
 */
export class JobState {
  status: JobStatus = "queued";
  result: unknown = undefined;
  error: Error | undefined = undefined;
  readonly logs: LogBuffer = new LogBuffer();
  progress: JobProgress | undefined = undefined;
  readonly exports: Record<string, unknown> = {};
  readonly warnings: string[] = [];
  /** Where it runs: `"local"`, or a runner's name and host. */
  where = "local";
  readonly createdAt: number = Date.now();
  startedAt: number | undefined = undefined;
  endedAt: number | undefined = undefined;
  /** The attempt under way, or the last one: 1, then 2 for the first retry … */
  attempt = 1;
  /** Attempts allowed in all: 1 + `retries`. */
  maxAttempts = 1;
  readonly attempts: AttemptRecord[] = [];
  /** Stops the job; set by the engine once the job has a runtime. */
  stop: ((error: Error) => Promise<void>) | undefined = undefined;
  readonly settled: Promise<unknown>;
  readonly #listeners = new Set<() => void>();
  #resolve!: (value: unknown) => void;
  #reject!: (error: Error) => void;

  constructor() {
    this.settled = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.settled.catch(() => {}); // a failed job nobody awaits is not a crash
  }

  get finished(): boolean {
    return this.endedAt !== undefined;
  }

  /** Calls `fn` on every change until the returned function is called. */
  subscribe(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  changed(): void {
    for (const fn of this.#listeners) fn();
  }

  /** Output written before this attempt, in characters (see `output()`). */
  #mark = 0;

  /** A runtime took the job: an attempt starts (`startedAt` is the first's). */
  start(): void {
    const now = Date.now();
    this.status = "running";
    this.startedAt ??= now;
    this.#mark = this.logs.written;
    this.attempts.push({
      attempt: this.attempt,
      startedAt: now,
      where: this.where,
    });
    this.changed();
  }

  /** The last lines of output this attempt wrote. */
  output(lines: number): string {
    const fresh = this.logs.written - this.#mark;
    return fresh > 0 ? this.logs.tail(lines).join("\n").slice(-fresh) : "";
  }

  /** The attempt failed with `error`; the job waits for its next one. */
  retry(error: Error): void {
    this.#endAttempt(error);
    this.attempt++;
    this.status = "queued";
    this.progress = undefined;
    this.changed();
  }

  complete(result: unknown): void {
    if (this.finished) return;
    this.result = result;
    this.#end("completed");
    this.#resolve(result);
  }

  fail(error: Error, status: "failed" | "killed" = "failed"): void {
    if (this.finished) return;
    this.error = error;
    this.#end(status, error);
    this.#reject(error);
  }

  #endAttempt(error: Error | undefined): void {
    const last = this.attempts.at(-1);
    if (!last || last.endedAt !== undefined) return;
    last.endedAt = Date.now();
    if (error) last.error = error;
  }

  #end(status: JobStatus, error?: Error): void {
    this.#endAttempt(error);
    this.status = status;
    this.endedAt = Date.now();
    this.stop = undefined;
    this.changed();
  }
}

/**
 * A background job. Await it for its result; it rejects with a `JobError`
 * when the job fails, `JobKilledError` when killed, `JobTimeoutError` when
 * it ran past its timeout.
 *
 * @typeParam T The result type.
 */
export class Job<T = unknown> implements PromiseLike<T> {
  /** Small integer, unique in this kernel: 1, 2, 3 … */
  readonly id: number;
  /** A random UUID; a detached job keeps its own in every kernel. */
  readonly uuid: string;
  /** The label shown in panels and tables. */
  readonly name: string;
  /** Resolves, never rejects, once the job has finished, with its final status. */
  readonly done: Promise<JobStatus>;
  readonly #state: JobState;

  /**
   * Made by `job()`; not meant to be called directly.
   *
   * @param id The registry id.
   * @param name The label.
   * @param state The state the engine writes.
   * @param uuid Its UUID, when it has one already (a detached job).
   */
  constructor(
    id: number,
    name: string,
    state: JobState,
    uuid: string = crypto.randomUUID(),
  ) {
    this.id = id;
    this.uuid = uuid;
    this.name = name;
    this.#state = state;
    this.done = state.settled.then(() => state.status, () => state.status);
  }

  /**
   * `"waiting"` (for its `after` jobs), `"queued"`, `"running"`,
   * `"completed"`, `"failed"` or `"killed"`.
   */
  get status(): JobStatus {
    return this.#state.status;
  }
  /** The result, once completed. */
  get result(): T | undefined {
    return this.#state.result as T | undefined;
  }
  /** Why the job failed or was killed. */
  get error(): Error | undefined {
    return this.#state.error;
  }
  /** Everything the job wrote to stdout and stderr (the newest 16 Mi characters). */
  get logs(): string {
    return this.#state.logs.text;
  }
  /** The last progress reported with `progress()`. */
  get progress(): JobProgress | undefined {
    return this.#state.progress;
  }
  /** Values published with `share()` and, for code jobs, the exports. */
  get exports(): Record<string, unknown> {
    return this.#state.exports;
  }
  /** Things the user should know, e.g. an export that could not be written. */
  get warnings(): readonly string[] {
    return this.#state.warnings;
  }
  /** Where it runs: `"local"`, or a cluster runner's name and host (`name@host`). */
  get where(): string {
    return this.#state.where;
  }
  /**
   * Every attempt so far, with its error: one for a job that ran once, more
   * for one tried again (`retries`); none before the job started.
   */
  get attempts(): readonly JobAttempt[] {
    return this.#state.attempts.map((a) => ({
      attempt: a.attempt,
      startedAt: new Date(a.startedAt),
      endedAt: toDate(a.endedAt),
      ...(a.error && { error: a.error }),
      where: a.where,
    }));
  }
  /** When the job's code first started running. */
  get startedAt(): Date | undefined {
    return toDate(this.#state.startedAt);
  }
  /** When the job finished. */
  get endedAt(): Date | undefined {
    return toDate(this.#state.endedAt);
  }
  /** Milliseconds the job has run (so far, while running). */
  get elapsed(): number {
    const start = this.#state.startedAt;
    if (start === undefined) return 0;
    return (this.#state.endedAt ?? Date.now()) - start;
  }

  /**
   * Stops the job, whatever it is doing, with everything it started.
   *
   * @returns A promise that resolves once the job's runtime is gone.
   */
  kill(): JobKill {
    const label = jobLabel(this.id, this.name);
    return new JobKill(this, killState(this.#state, `${label} was killed`));
  }

  /** `console.log(job)` prints one line: id, name, status, elapsed, progress. */
  [Symbol.for("Deno.customInspect")](): string {
    const p = this.progress;
    const progress = p ? ` · ${p.done}${p.total ? `/${p.total}` : ""}` : "";
    return `${
      jobLabel(this.id, this.name)
    } · ${this.status} · ${this.elapsed} ms${progress}`;
  }

  /**
   * Waits for the result, like a promise.
   *
   * @param onfulfilled Called with the result.
   * @param onrejected Called with the `JobError`.
   * @returns A promise of what the callback returns.
   */
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return (this.#state.settled as Promise<T>).then(onfulfilled, onrejected);
  }
}

/** The state behind a job, for the engine and the registry. */
export function stateOf(job: Job<unknown>): JobState {
  return STATES.get(job)!;
}
const STATES = new WeakMap<Job<unknown>, JobState>();

/** Makes a job (with its `uuid`, when given) and remembers its state. */
export function makeJob(
  id: number,
  name: string,
  uuid?: string,
): [Job<unknown>, JobState] {
  const state = new JobState();
  const job = new Job(id, name, state, uuid);
  STATES.set(job, state);
  return [job, state];
}

async function killState(state: JobState, message: string): Promise<void> {
  if (state.finished) return;
  const error = new JobKilledError(message);
  if (state.stop) await state.stop(error);
  else state.fail(error, "killed");
}

/**
 * A kill under way: a promise that resolves once the job's runtime is gone,
 * and knows its job, so that typed as a cell's last expression it shows
 * what happened (in a notebook it says "killed" once it is).
 *
 * @example Usage
 * ```ts
 * import { job } from "../../mod.ts";
 * const j = job(() => new Promise(() => {}));
 * const kill = j.kill();
 * await kill;
 * console.log(kill.job.status); // "killed"
 * ```
 */
export class JobKill extends Promise<void> {
  /** `then()` and the rest make plain promises. */
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  /** The job being killed. */
  readonly job: Job<unknown>;
  #settled = false;

  /**
   * Follows `killing` for `job`.
   *
   * @param job The job.
   * @param killing Resolves once the job's runtime is gone.
   */
  constructor(job: Job<unknown>, killing: Promise<void>) {
    let settle!: (killed: Promise<void>) => void;
    super((resolve) => settle = resolve);
    this.job = job;
    settle(killing.finally(() => this.#settled = true));
  }

  /** Whether the kill is over (the runtime is gone, or the job had ended). */
  get settled(): boolean {
    return this.#settled;
  }

  /** What happened: `Job 2 (crawl(urls)) killed`. */
  describe(): string {
    const label = jobLabel(this.job.id, this.job.name);
    if (!this.#settled) return `${label}: killing…`;
    return this.job.status === "killed"
      ? `${label} killed`
      : `${label} had already ${this.job.status}`;
  }

  /** `console.log(j.kill())` prints what happened so far. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.describe();
  }
}

function toDate(ms: number | undefined): Date | undefined {
  return ms === undefined ? undefined : new Date(ms);
}

/**
 * How messages name a job: `Job 3 (crawl(urls))`.
 *
 * @param id The job's id.
 * @param name The job's name.
 * @returns The label.
 */
export function jobLabel(id: number, name: string): string {
  return `Job ${id} (${name})`;
}
