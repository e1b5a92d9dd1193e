/**
 * `job()`: start work in the background and get a {@linkcode Job} at once.
 *
 * @module
 */
import { type Job, type JobState, makeJob } from "../engine/job_state.ts";
import { checkJobOptions, type JobOptions } from "../engine/options.ts";
import { resolvePermissions } from "../sandbox/permissions.ts";
import { type JobContext, runJob, type RunRequest } from "../engine/drive.ts";
import { jobList } from "../engine/job_list.ts";
import { backend } from "../engine/backend.ts";
import { defaults } from "./configure.ts";
import { truncate } from "../engine/text_table.ts";
import {
  type Capture,
  captureCode,
  captureFunction,
} from "../capture/capture.ts";

/** Something that wants to know when a job starts (the notebook panel). */
export type JobObserver = (
  job: Job<unknown>,
  state: JobState,
  options: JobOptions,
) => void;

/**
 * The results of jobs, in order: what a job's function gets as arguments
 * from the jobs of its `after` (`[Job<number>, Job<string>]` gives
 * `[number, string]`).
 *
 * @typeParam A The jobs.
 */
export type JobResults<A extends readonly Job<unknown>[]> = {
  -readonly [K in keyof A]: A[K] extends Job<infer R> ? R : never;
};

/** Observers called for every new job; the kernel extension adds the panel here. */
export const jobObservers: Set<JobObserver> = new Set();

/**
 * Starts work in the background, in its own Deno process with its own
 * permissions, and returns at once.
 *
 * - `job(fn)`: runs `fn` in the job runtime; the job's result is what it
 *   returns (awaited). With `after: [j1, j2]` it starts once those jobs
 *   have completed, and `fn` gets their results: `job((a, b) => a + b, …)`.
 * - `job("expr")`: one expression; the result is its value.
 * - `job("code")` with statements: runs as a module (TypeScript and
 *   `import` allowed); the result is the object of its exports.
 * - ``job`code` ``: the same as `job("code")`; a `${…}` substitution is an error.
 *
 * @typeParam T The function's result type.
 * @typeParam A The jobs of `after`, whose results `fn` gets.
 * @param fn The work: a function, or code as a string.
 * @param options Name, permissions, timeout, memory cap, abort signal,
 * display, where it runs, `retries`, `after`.
 * @returns The job, already waiting, queued or running.
 * @throws {TypeError} On something that is not a function or code, code that
 * does not parse, bad options (an `after` that holds anything but jobs of
 * this kernel), or a permission the kernel does not have.
 * @throws {RangeError} On a timeout, memory cap or retry count out of range.
 * @example Usage
 * ```ts ignore
 * import { job } from "./job.ts";
 * const a = job(() => 6 * 7);
 * const b = job((n) => n + 1, { after: [a], retries: 2 });
 * console.log(await b); // 43
 * ```
 */
export function job<T, const A extends readonly Job<unknown>[] = []>(
  fn: (...results: JobResults<A>) => T | Promise<T>,
  options?: JobOptions & { after?: A },
): Job<Awaited<T>>;
/**
 * Starts code in the background: one expression gives its value; statements
 * run as a module whose exports become the result (and notebook names).
 * Code takes no `after` (it has no arguments to get results in): use the
 * function form.
 *
 * @param code TypeScript or JavaScript.
 * @param options Name, permissions, timeout, memory cap, abort signal,
 * display, where it runs, `retries`.
 * @returns The job, already queued or running.
 * @throws {TypeError} On code that does not parse or bad options (`after`
 * included).
 * @example Usage
 * ```ts ignore
 * import { job } from "./job.ts";
 * console.log(await job("6 * 7")); // 42
 * ```
 */
export function job(code: string, options?: JobOptions): Job<unknown>;
/**
 * Tagged-template form: ``job`code` `` is `job("code")`.
 *
 * @param code The template's text; `${…}` substitutions are refused.
 * @param substitutions Must be empty.
 * @returns The job, already queued or running.
 * @throws {TypeError} On a substitution.
 * @example Usage
 * ```ts ignore
 * import { job } from "./job.ts";
 * console.log(await job`6 * 7`); // 42
 * ```
 */
export function job(
  code: TemplateStringsArray,
  ...substitutions: never[]
): Job<unknown>;
export function job(
  what: unknown,
  ...rest: unknown[]
): Job<unknown> {
  let request: RunRequest;
  let options: JobOptions;
  if (isTemplate(what)) {
    if (rest.length > 0 || what.length !== 1) {
      throw new TypeError(
        "Cannot start a job from a template with ${…} substitutions: write the value in the code, or use job(() => …) to send notebook values",
      );
    }
    request = codeRequest(what.raw[0]);
    options = {};
  } else {
    options = checkJobOptions(rest[0]);
    if (typeof what === "string" && options.after !== undefined) {
      throw new TypeError(
        "Cannot use after with code: code gets no arguments to receive results in; use the function form, e.g. job((a, b) => a + b, { after: [j1, j2] })",
      );
    }
    request = typeof what === "string"
      ? codeRequest(what)
      : functionRequest(what);
  }
  if (
    (options.on === "cluster" || options.detached) && request.run !== undefined
  ) {
    throw new TypeError(
      'Cannot run code with relative imports on a cluster: the notebook\'s files are not on the runners; import by URL (https:, jsr:, npm:), or run it with on: "local"',
    );
  }
  return startJob(
    request.source,
    options.name ?? shortName(request.source),
    options,
    (state, context) => runJob(state, request, context),
  );
}

/**
 * Registers a job and starts its work: resolves its permissions (refusing
 * what the kernel lacks), gives it the next id, tells the observers (the
 * notebook panel) and runs `run` in the background.
 *
 * @param source The job's source, for tracebacks.
 * @param name The job's label.
 * @param options The job's checked options.
 * @param run The work, given the job's state and context.
 * @returns The job.
 * @throws {TypeError} On a permission the kernel does not have.
 */
export function startJob(
  source: string,
  name: string,
  options: JobOptions,
  run: (state: JobState, context: JobContext) => Promise<void>,
): Job<unknown> {
  const wanted = options.permissions ?? defaults.permissions;
  const on = options.detached ? "cluster" : options.on ?? "local";
  // On a cluster the runner, not the kernel, holds what a job may get.
  const permissions = on === "local"
    ? resolvePermissions(wanted)
    : wanted === undefined || wanted === "inherit"
    ? "inherit"
    : resolvePermissions(wanted, () => true);
  if (!options.detached) backend(on).admit?.(permissions);
  const memory = options.memory ?? defaults.memory;
  const isDefault = options.permissions === undefined &&
    defaults.permissions === undefined &&
    memory === undefined;
  const id = jobList.nextId();
  const [job, state] = makeJob(id, name);
  // drive() makes it "queued" once they are done.
  if (options.after?.length) state.status = "waiting";
  jobList.add(job, source);
  for (const observe of jobObservers) observe(job, state, options);
  run(state, {
    id,
    uuid: job.uuid,
    name,
    permissions,
    options: { ...options, memory },
    isDefault,
  });
  return job;
}

function isTemplate(value: unknown): value is TemplateStringsArray {
  return Array.isArray(value) &&
    Array.isArray((value as unknown as { raw: unknown }).raw);
}

/**
 * Captures a function for a job, refusing what cannot be a job's function.
 *
 * @param fn The function.
 * @returns What to send.
 * @throws {TypeError} On a non-function, a native or bound function, a class.
 */
export function functionRequest(fn: unknown): Capture {
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot start a job from ${
        fn === null ? "null" : typeof fn
      }: pass a function, e.g. job(() => work()), or code as a string`,
    );
  }
  const source = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}$/.test(source)) {
    throw new TypeError(
      `Cannot start a job from ${
        fn.name || "a function"
      }: it is native or bound, so its code cannot be sent; wrap it, e.g. job(() => work())`,
    );
  }
  if (/^class\b/.test(source)) {
    throw new TypeError(
      `Cannot start a job from class ${fn.name}: pass a function, e.g. job(() => new ${fn.name}().run())`,
    );
  }
  return captureFunction(fn as () => unknown);
}

function codeRequest(code: string): RunRequest {
  if (code.trim() === "") {
    throw new TypeError(
      "Cannot start a job from empty code: write an expression or statements",
    );
  }
  return captureCode(code);
}

/** A job's default label: its code on one line, shortened. */
export function shortName(source: string): string {
  const text = source.replace(/\s+/g, " ").trim()
    .replace(/^(async\s*)?\(\s*\)\s*=>\s*/, "")
    .replace(/^\{\s*(return\s+)?(.*?);?\s*\}$/, "$2");
  return truncate(text, 40);
}
