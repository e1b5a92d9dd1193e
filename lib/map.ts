/**
 * `jobs.map()`: one job that runs a function over many items on several job
 * runtimes at once. The function is sent once per runtime; items travel in
 * chunks, so the overhead per item is small; results come back in order.
 *
 * @module
 */
import { type Capture, encodeForJob, receiveShared } from "./capture.ts";
import { appendOutput, drive, settle } from "./engine.ts";
import { JobError, type RemoteError } from "./errors.ts";
import type { Job, JobState } from "./job.ts";
import { checkJobOptions, type JobOptions } from "./options.ts";
import type { Packet } from "./codec.ts";
import type { RunEnd, RuntimeProcess } from "./runtime_process.ts";
import { defaults } from "./configure.ts";
import { functionRequest, shortName, startJob } from "./submit.ts";

/** Options of `jobs.map()`: a job's options and how many runtimes to use. */
export interface MapOptions extends JobOptions {
  /**
   * Job runtimes working through the items at once.
   *
   * @default {the `concurrency` of `jobs.configure()`: the number of cores}
   */
  concurrency?: number;
}

interface Chunk {
  start: number;
  packet: Packet;
}

/** Items a chunk may hold: big enough to make messages rare, small enough to balance. */
const MAX_CHUNK = 2048;
/** Chunks kept in flight per runtime, so it never waits for the next one. */
const IN_FLIGHT = 2;

/**
 * Starts one job that runs `fn(item, index)` over `items` on a pool of job
 * runtimes; its result is the array of results, in the order of the items.
 *
 * @param items An array or any iterable.
 * @param fn The function, sent with the notebook names it uses.
 * @param options Job options plus `concurrency`.
 * @returns The map job.
 * @throws {TypeError} On items that are not iterable, a bad function or
 * options, or an item that cannot be sent (naming its index).
 * @throws {RangeError} On a `concurrency` that is not a whole number ≥ 1.
 */
export function mapJob<I, R>(
  items: Iterable<I> | ArrayLike<I>,
  fn: (item: I, index: number) => R | Promise<R>,
  options: MapOptions = {},
): Job<Awaited<R>[]> {
  const { concurrency = defaults.concurrency, ...rest } = options ?? {};
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(
      `Cannot use concurrency ${String(concurrency)}: pass a whole number ≥ 1`,
    );
  }
  const jobOptions = checkJobOptions(rest);
  const list = toArray(items);
  const capture = functionRequest(fn);
  const chunks = plan(list, concurrency);
  const name = jobOptions.name ??
    `map ${shortName(capture.source)} × ${list.length}`;
  return startJob(
    capture.source,
    name,
    jobOptions,
    (state, context) =>
      drive(state, context, async (driver) => {
        const lanes = Math.min(concurrency, chunks.length);
        const label = `Job ${context.id} (${name})`;
        const run = new MapRun(state, capture, chunks, list.length, label);
        if (lanes === 0) state.start();
        // Each runtime starts on the items as soon as it is up: a warm one
        // does not wait for the cold ones.
        const ends = await Promise.all(
          Array.from({ length: lanes }, async () => {
            const runtime = await driver.runtime();
            if (state.status === "queued") state.start();
            return run.lane(runtime);
          }),
        );
        if (driver.stopped || run.failure) {
          return state.fail(
            driver.stopped ?? run.failure!,
            driver.stopped ? "killed" : "failed",
          );
        }
        const crash = ends.find((end) => end.kind !== "result");
        if (crash) return settle(state, crash, undefined, context, capture);
        state.complete(run.results);
      }),
  ) as Job<Awaited<R>[]>;
}

function toArray<I>(items: Iterable<I> | ArrayLike<I>): I[] {
  if (Array.isArray(items)) return items;
  if (
    items !== null && typeof items === "object" &&
    (Symbol.iterator in items || "length" in items)
  ) return Array.from(items as Iterable<I>);
  throw new TypeError(
    `Cannot map over ${
      items === null ? "null" : typeof items
    }: pass an array or an iterable`,
  );
}

function plan(list: unknown[], concurrency: number): Chunk[] {
  const size = Math.max(
    1,
    Math.min(MAX_CHUNK, Math.ceil(list.length / (concurrency * 8))),
  );
  const chunks: Chunk[] = [];
  for (let start = 0; start < list.length; start += size) {
    const items = list.slice(start, start + size);
    let packet: Packet;
    try {
      packet = encodeForJob(items, "items");
    } catch (error) {
      // Name the item by its index in the whole list, not in its chunk.
      items.forEach((item, k) => encodeForJob(item, `items[${start + k}]`));
      throw error;
    }
    chunks.push({ start, packet });
  }
  return chunks;
}

/** The shared state of one map: the chunk queue, the results, progress. */
class MapRun {
  readonly results: unknown[];
  failure: Error | undefined;
  #next = 0;
  #done = 0;
  #runtimes: RuntimeProcess[] = [];

  constructor(
    readonly state: JobState,
    readonly capture: Capture,
    readonly chunks: Chunk[],
    readonly total: number,
    readonly label: string,
  ) {
    this.results = new Array(total);
    state.progress = { done: 0, total };
  }

  /** Feeds one runtime chunks until none are left; resolves when it ended. */
  lane(runtime: RuntimeProcess): Promise<RunEnd> {
    this.#runtimes.push(runtime);
    let inFlight = 0;
    const feed = () => {
      while (
        inFlight < IN_FLIGHT && this.#next < this.chunks.length && !this.failure
      ) {
        const { start, packet } = this.chunks[this.#next++];
        inFlight++;
        runtime.send({ t: "items", start, value: packet });
      }
      if (inFlight === 0) runtime.send({ t: "end" });
    };
    const end = runtime.run({
      t: "run",
      kind: "map",
      source: this.capture.source,
      value: this.capture.value,
    }, {
      onOutput: (text) => appendOutput(this.state, text),
      onMessage: (msg) => {
        if (msg.t === "items-done") {
          inFlight--;
          this.#receive(msg.start as number, msg.value as Packet);
          feed();
        } else if (msg.t === "item-error") {
          this.#fail(msg.index as number, msg.error as RemoteError);
        } else if (msg.t === "share") {
          receiveShared(
            this.state,
            this.capture,
            msg.name as string,
            msg.value,
          );
          this.state.changed();
        }
      },
    });
    feed();
    return end;
  }

  #receive(start: number, packet: Packet): void {
    const values = this.capture.receive(packet) as unknown[];
    for (let k = 0; k < values.length; k++) this.results[start + k] = values[k];
    this.#done += values.length;
    this.state.progress = { done: this.#done, total: this.total };
    this.state.changed();
  }

  #fail(index: number, remote: RemoteError): void {
    this.failure ??= new JobError(
      `${this.label} failed at item ${index}: ${remote.name}: ${remote.message}`,
      { remote },
    );
    for (const runtime of this.#runtimes) runtime.kill();
  }
}
