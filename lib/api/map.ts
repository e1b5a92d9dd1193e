/**
 * `jobs.map()`: one job that runs a function over many items on several job
 * runtimes at once. The function is sent once per runtime; items travel in
 * chunks, so the overhead per item is small; results come back in order.
 *
 * Scheduling: all lanes' runtimes are asked for at once (warm ones from the
 * pool, the missing ones started in parallel), and each lane starts on the
 * items as soon as its runtime is up. The map holds the pool while it runs,
 * so no runtime is started in the background to compete for the cores (see
 * `launch/pool.ts`). Chunks shrink towards the end (each holds about 1/(4 × lanes)
 * of the items left, at most {@linkcode MAX_CHUNK}), and a lane keeps a
 * second chunk queued only while more chunks are left than there are lanes,
 * so the last chunks go to whichever lane is free first, and the lanes
 * finish together instead of one working through a queued chunk while the
 * others idle.
 *
 * @module
 */
import { type Capture, encodeForJob } from "../capture/capture.ts";
import { receiveShared, settle } from "../engine/receive.ts";
import { answerAnalysis, appendOutput, drive } from "../engine/drive.ts";
import { backend, type Runtime } from "../engine/backend.ts";
import { JobError } from "../engine/errors.ts";
import { type Job, jobLabel, type JobState } from "../engine/job_state.ts";
import { checkJobOptions, type JobOptions } from "../engine/options.ts";
import type { Packet } from "../codec/packet.ts";
import type { RemoteError, RunEnd } from "../protocol/messages.ts";
import { defaults } from "./configure.ts";
import { functionRequest, shortName, startJob } from "./job.ts";

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
  size: number;
  packet: Packet;
}

/** Items a chunk may hold: big enough to make messages rare, small enough to balance. */
export const MAX_CHUNK = 2048;
/**
 * On a cluster a chunk's round trip crosses the network and the server:
 * bigger chunks, and more of them in flight.
 */
const CLUSTER_CHUNK = 16_384;
/** …and not smaller than this: a tail of tiny chunks costs a round trip each. */
const CLUSTER_MIN_CHUNK = 512;
const CLUSTER_IN_FLIGHT = 4;
/** A chunk holds about 1/(SHARE × lanes) of the items not yet planned. */
const SHARE = 4;
/** Chunks kept in flight per runtime, so it never waits for the next one. */
const IN_FLIGHT = 2;

/**
 * Starts one job that runs `fn(item, index)` over `items` on a pool of job
 * runtimes; its result is the array of results, in the order of the items.
 * With `retries`, an attempt that fails runs the whole map again.
 *
 * @param items An array or any iterable.
 * @param fn The function, sent with the notebook names it uses.
 * @param options Job options plus `concurrency`.
 * @returns The map job.
 * @throws {TypeError} On items that are not iterable, a bad function or
 * options (`after` included: a map's function gets items, not results), or
 * an item that cannot be sent (naming its index).
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
  if (jobOptions.after !== undefined) {
    throw new TypeError(
      "Cannot use after with jobs.map: its function gets items, not results; wait in a job instead, e.g. job((xs) => …, { after: [j1] }), or map over a finished job's result: jobs.map(await j1, fn)",
    );
  }
  if (jobOptions.detached) {
    throw new TypeError(
      "Cannot use detached with jobs.map: a map's lanes live in this kernel; run the map inside a detached job instead, e.g. job(() => Promise.all(items.map(work)), { detached: true })",
    );
  }
  const list = toArray(items);
  const capture = functionRequest(fn);
  const remote = jobOptions.on === "cluster";
  const chunks = remote
    ? plan(list, concurrency, CLUSTER_CHUNK, CLUSTER_MIN_CHUNK)
    : plan(list, concurrency, MAX_CHUNK, 1);
  const name = jobOptions.name ??
    `map ${shortName(capture.source)} × ${list.length}`;
  return startJob(
    capture.source,
    name,
    jobOptions,
    (state, context) =>
      drive(state, context, async (driver) => {
        const lanes = Math.min(concurrency, chunks.length);
        const label = jobLabel(context.id, name);
        const run = new MapRun(state, capture, chunks, lanes, label);
        if (remote) run.inFlight = CLUSTER_IN_FLIGHT;
        if (lanes === 0) state.start();
        // No background starts while the lanes work (released at the end);
        // a map with the default permissions leaves that many runtimes warm.
        const release = backend().hold(context.isDefault ? lanes : 0);
        let ends: RunEnd[];
        try {
          // Each runtime starts on the items as soon as it is up: a warm one
          // does not wait for the cold ones.
          ends = await Promise.all(
            Array.from({ length: lanes }, async () => {
              const runtime = await driver.runtime();
              if (state.status === "queued") state.start();
              return run.lane(runtime);
            }),
          );
        } finally {
          release();
        }
        if (driver.stopped) return;
        if (run.failure) return { error: run.failure, reason: "error" };
        const crash = ends.find((end) => end.kind !== "result");
        if (crash) return settle(state, crash, context, capture);
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

/** Cuts the items into encoded chunks that shrink towards the end. */
function plan(
  list: unknown[],
  concurrency: number,
  max: number,
  min: number,
): Chunk[] {
  const chunks: Chunk[] = [];
  // The floor never makes fewer chunks than a short list spreads over.
  min = Math.min(min, Math.ceil(list.length / (concurrency * SHARE)));
  for (let start = 0, size = 1; start < list.length; start += size) {
    const left = list.length - start;
    const share = Math.ceil(left / (concurrency * SHARE));
    size = Math.min(left, max, Math.max(min, share, 1));
    const items = list.slice(start, start + size);
    let packet: Packet;
    try {
      packet = encodeForJob(items, "items");
    } catch (error) {
      // Name the item by its index in the whole list, not in its chunk.
      items.forEach((item, k) => encodeForJob(item, `items[${start + k}]`));
      throw error;
    }
    chunks.push({ start, size, packet });
  }
  return chunks;
}

/** The shared state of one map: the chunk queue, the results, progress. */
class MapRun {
  /** Chunks a lane keeps in flight while more are left than lanes. */
  inFlight: number = IN_FLIGHT;
  readonly results: unknown[];
  readonly total: number;
  failure: Error | undefined;
  #next = 0;
  #done = 0;
  #runtimes: Runtime[] = [];

  constructor(
    readonly state: JobState,
    readonly capture: Capture,
    readonly chunks: Chunk[],
    readonly lanes: number,
    readonly label: string,
  ) {
    this.total = chunks.reduce((n, c) => n + c.size, 0);
    this.results = new Array(this.total);
    state.progress = { done: 0, total: this.total };
  }

  /** Feeds one runtime chunks until none are left; resolves when it ended. */
  lane(runtime: Runtime): Promise<RunEnd> {
    this.#runtimes.push(runtime);
    let inFlight = 0;
    const feed = () => {
      while (
        inFlight < this.#depth() && this.#next < this.chunks.length &&
        !this.failure
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
      source: this.capture.run ?? this.capture.source,
      value: this.capture.value,
    }, {
      onOutput: (text) => appendOutput(this.state, text),
      onMessage: (msg) => {
        if (msg.t === "items-done") {
          inFlight--;
          this.#receive(msg.start, msg.value);
          feed();
        } else if (msg.t === "item-error") {
          this.#fail(msg.index, msg.error);
        } else if (msg.t === "share") {
          receiveShared(this.state, this.capture, msg.name, msg.value);
          this.state.changed();
        } else if (msg.t === "analyze") answerAnalysis(runtime, msg);
      },
    });
    feed();
    return end;
  }

  /** Chunks a lane keeps in flight: one only in the tail, to balance. */
  #depth(): number {
    const left = this.chunks.length - this.#next;
    return left > this.lanes ? this.inFlight : 1;
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
