/**
 * `job()`: start work in the background and get a {@linkcode Job} at once.
 *
 * @module
 */
import { type Job, type JobState, makeJob } from "./job.ts";
import { checkJobOptions, type JobOptions } from "./options.ts";
import { resolvePermissions } from "./permissions.ts";
import { runJob, type RunRequest } from "./engine.ts";
import { defaults, jobs } from "./registry.ts";
import { captureCode, captureFunction } from "./capture.ts";

/** Something that wants to know when a job starts (the notebook panel). */
export type JobObserver = (
  job: Job<unknown>,
  state: JobState,
  options: JobOptions,
) => void;

/** Observers called for every new job; the kernel extension adds the panel here. */
export const jobObservers: Set<JobObserver> = new Set();

/**
 * Starts work in the background, in its own Deno process with its own
 * permissions, and returns at once.
 *
 * - `job(fn)`: runs `fn` in the job runtime; the job's result is what it
 *   returns (awaited).
 * - `job("expr")`: one expression; the result is its value.
 * - `job("code")` with statements: runs as a module (TypeScript and
 *   `import` allowed); the result is the object of its exports.
 * - ``job`code` ``: the same as `job("code")`; a `${…}` substitution is an error.
 *
 * @typeParam T The function's result type.
 * @param fn The work: a function, or code as a string.
 * @param options Name, permissions, timeout, memory cap, abort signal, display.
 * @returns The job, already queued or running.
 * @throws {TypeError} On something that is not a function or code, code that
 * does not parse, bad options, or a permission the kernel does not have.
 * @throws {RangeError} On a timeout or memory cap out of range.
 * @example Usage
 * ```ts ignore
 * import { job } from "./submit.ts";
 * const j = job(() => 6 * 7);
 * console.log(await j); // 42
 * ```
 */
export function job<T>(
  fn: () => T | Promise<T>,
  options?: JobOptions,
): Job<Awaited<T>>;
/**
 * Starts code in the background: one expression gives its value; statements
 * run as a module whose exports become the result (and notebook names).
 *
 * @param code TypeScript or JavaScript.
 * @param options Name, permissions, timeout, memory cap, abort signal, display.
 * @returns The job, already queued or running.
 * @throws {TypeError} On code that does not parse or bad options.
 * @example Usage
 * ```ts ignore
 * import { job } from "./submit.ts";
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
 * import { job } from "./submit.ts";
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
    request = typeof what === "string"
      ? codeRequest(what)
      : functionRequest(what);
  }
  const permissions = resolvePermissions(
    options.permissions ?? defaults.permissions,
  );
  const memory = options.memory ?? defaults.memory;
  const isDefault = options.permissions === undefined &&
    defaults.permissions === undefined &&
    memory === undefined;
  const id = jobs.nextId();
  const name = options.name ?? shortName(request.source);
  const [job, state] = makeJob(id, name);
  jobs.add(job, request.source);
  for (const observe of jobObservers) observe(job, state, options);
  runJob(state, request, {
    id,
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

function functionRequest(fn: unknown): RunRequest {
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

function shortName(source: string): string {
  const text = source.replace(/\s+/g, " ").trim()
    .replace(/^(async\s*)?\(\s*\)\s*=>\s*/, "")
    .replace(/^\{\s*(return\s+)?(.*?);?\s*\}$/, "$2");
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}
