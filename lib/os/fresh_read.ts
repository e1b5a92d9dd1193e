/**
 * Reading a big stream into a fresh buffer at memory's pace. Most of what
 * receiving a big buffer costs is the first touch of its fresh pages (~2 µs
 * per 4 KiB page on a quiet VM here, 25 ms for 50 MiB; several times that on
 * a busy one), not the copy (~5 ms). Huge pages are asked for where the
 * process may, and reading /dev/zero into the next pieces on blocking
 * threads takes the remaining faults on another core while the caller's
 * reads copy into pieces already faulted; a piece is read from the stream
 * only once its zeroing is done, so the zeroes never land on data.
 *
 * In a notebook (see {@linkcode prepareAhead}), after a big result a buffer
 * of its size is made ready in the background for the next (a cell run
 * again), faulted from user code and by Linux both, as this VM faults a page
 * once for each (~5 µs each time): Linux's writes of 50 MiB into it take
 * ~3 ms instead of ~70, and the notebook's first pass ~1 ms instead of ~75.
 * Anywhere, a job's start makes one ready of the last big result's size
 * (see {@linkcode prepareWhile}), by Linux only outside a notebook, and
 * only while a job runs: a script ends when it would have.
 *
 * A process that only passes a big buffer on (a runner) reads it behind
 * instead: the buffer comes at once, and is sent on as it fills.
 *
 * @module
 */
import { type ByteReader, readInto } from "../protocol/byte_streams.ts";
import { adviseHugePages, touchOffThread } from "./libc.ts";

const PIECE = 4 * 1024 * 1024;
const ZERO_READERS = 2;
let zeros: Promise<Deno.FsFile[] | undefined> | undefined;

function zeroFiles(): Promise<Deno.FsFile[] | undefined> {
  return zeros ??= (async () => {
    try {
      const { state } = Deno.permissions.querySync({
        name: "read",
        path: "/dev/zero",
      });
      if (state !== "granted") return undefined;
      const files = [];
      for (let i = 0; i < ZERO_READERS; i++) {
        files.push(await Deno.open("/dev/zero", { read: true }));
      }
      return files;
    } catch {
      return undefined;
    }
  })();
}

/**
 * Reads the next `size` bytes of a stream into a buffer of their own, its
 * pages faulted ahead.
 *
 * @param reader The stream.
 * @param size How many bytes.
 * @returns The buffer.
 * @throws {Error} When the stream ends first, or fails.
 */
export function readFresh(
  reader: ByteReader,
  size: number,
): Promise<Uint8Array> {
  return fillFresh(size, (bytes, at, end) => readInto(reader, bytes, at, end));
}

/**
 * Fills a buffer of its own, `size` bytes, its pages faulted ahead, a piece
 * at a time in order: `copy` puts bytes `at` to `end` of what is coming into
 * `bytes` at the same place.
 *
 * @param size How many bytes.
 * @param copy Copies a piece in; rejects when it cannot.
 * @returns The buffer.
 * @throws {Error} What `copy` throws.
 */
export async function fillFresh(
  size: number,
  copy: (bytes: Uint8Array, at: number, end: number) => Promise<unknown>,
): Promise<Uint8Array> {
  if (size > PIECE && size <= SPARE_MAX) lastSize = size;
  const spare = takeSpare(size);
  if (spare) {
    await copy(spare, 0, size);
    return spare;
  }
  const entry = takePrepared(size) ?? freshEntry(size);
  try {
    if (entry.ready) await copy(entry.bytes, 0, size);
    else {
      for (let at = 0, i = 0; at < size; at += PIECE, i++) {
        await entry.zeroed[i];
        await copy(entry.bytes, at, Math.min(size, at + PIECE));
      }
    }
  } finally {
    entry.dropped = true; // the copy is done, or failed: no more zeroing
  }
  if (ahead) prepare(size);
  return entry.bytes;
}

// A buffer being faulted, a piece at a time over two lanes of blocking
// threads: made ready ahead, or fresh for a result coming now.
interface Faulting {
  bytes: Uint8Array;
  /**
   * Per piece: settles once it is faulted, or given up (then the copy
   * faults it). A piece is copied into only once its own has settled, so
   * zeroes never land on data.
   */
  zeroed: Promise<unknown>[];
  /** Every piece is faulted: the copy need not wait. */
  ready: boolean;
  /** Per piece: faulted. */
  faulted: boolean[];
  /** Taken for a result: faulting goes on, ahead of its copy. */
  taken: boolean;
  /** Dropped, or its copy is done: no more faulting. */
  dropped: boolean;
}

// A buffer of `size` with nothing faulted yet.
function unfaulted(size: number, taken: boolean): Faulting {
  return {
    bytes: new Uint8Array(size),
    zeroed: [],
    ready: false,
    faulted: [],
    taken,
    dropped: false,
  };
}

function freshEntry(size: number): Faulting {
  const entry = unfaulted(size, true);
  if (size <= PIECE) {
    entry.ready = true; // too small to be worth the threads
    return entry;
  }
  adviseHugePages(entry.bytes);
  entry.zeroed = faultAhead(entry, false, () => true);
  return entry;
}

// Faults `entry`'s pieces over the lanes of /dev/zero: reading /dev/zero
// into a piece faults it for Linux's writes, and `touch` first zeroes it
// from user code on a blocking thread too (the notebook's own first pass).
// Each piece's promise resolves `true` once faulted, `false` if given up.
function faultAhead(
  entry: Faulting,
  touch: boolean,
  working: () => boolean,
): Promise<boolean>[] {
  const files = zeroFiles();
  const stopped = () => entry.dropped || (!entry.taken && !working());
  // Ahead of a job's result, one lane: the job has the other core.
  const count = entry.taken || touch ? ZERO_READERS : 1;
  const lanes: Promise<unknown>[] = Array(count).fill(files);
  const zeroed: Promise<boolean>[] = [];
  const { bytes } = entry;
  for (let at = 0, i = 0; at < bytes.byteLength; at += PIECE, i++) {
    const lane = i % count;
    const piece = bytes.subarray(at, Math.min(bytes.byteLength, at + PIECE));
    const done = lanes[lane].then(async () => {
      if (entry.faulted[i]) return true;
      const file = (await files)?.[lane];
      if (!file || stopped()) return false;
      if (touch) await touchOffThread(piece);
      if (stopped()) return false;
      await readInto(file, piece);
      return entry.faulted[i] = true;
    }).catch(() => false);
    lanes[lane] = done;
    zeroed.push(done);
  }
  return zeroed;
}

// The buffer made ready for the next big result: one, of the last big
// result's size, kept for a minute (the memory is the notebook's, idle).
interface Prepared extends Faulting {
  timer: ReturnType<typeof setTimeout>;
  /** Its faulting was given up half-way: its job ended first. */
  halted: boolean;
}
let prepared: Prepared | undefined;
const preparing = { made: 0, used: 0 };
let ahead = false;
// The last big result's size: what the next job is likely to bring.
let lastSize = 0;

/**
 * Whether buffers are made ready ahead of big results: on in a notebook's
 * kernel, which never exits by itself, right after each big result and
 * faulted for the notebook's own first pass too. Elsewhere (a script) one is
 * made ready only while a job runs ({@linkcode prepareWhile}): the blocking
 * threads that fault it keep a script alive for as long (~0.3 s for 50 MiB
 * here).
 *
 * @param on Whether to.
 */
export function prepareAhead(on: boolean): void {
  ahead = on;
  dropPrepared();
  if (!on) lastSize = 0;
}

/**
 * A job has started: makes a buffer of the last big result's size ready for
 * its result, unless there is one. Outside a notebook's kernel it is faulted
 * only while `working()` holds (a job still runs, so the process lives on
 * anyway), a piece at a time: it keeps no script alive for longer than a
 * piece takes (~5 ms). A result that comes before it is done takes it as it
 * is, faulting goes on ahead of the copy. One left unused for a minute is
 * dropped, and the size forgotten until the next big result.
 *
 * @param working Whether a job still runs.
 */
export function prepareWhile(working: () => boolean): void {
  if (lastSize) prepare(lastSize, working);
}

/**
 * How many buffers were made ready ahead of a big result, and how many took
 * one.
 *
 * @returns The counts, since this process started.
 */
export function preparedStats(): { made: number; used: number } {
  return { ...preparing };
}

function dropPrepared(): void {
  if (!prepared) return;
  clearTimeout(prepared.timer);
  prepared.dropped = true;
  prepared = undefined;
}

function takePrepared(size: number): Faulting | undefined {
  if (prepared?.bytes.byteLength !== size) return undefined;
  const entry = prepared;
  clearTimeout(entry.timer);
  prepared = undefined;
  entry.taken = true;
  preparing.used++;
  return entry;
}

// Makes a buffer of `size` ready in the background (see prepareAhead() and
// prepareWhile()); one given up half-way (its job ended) goes on from there.
function prepare(size: number, working: () => boolean = () => true): void {
  if (size <= PIECE || size > SPARE_MAX) return;
  if (prepared?.bytes.byteLength === size) {
    if (prepared.halted) fault(prepared, working);
    return;
  }
  dropPrepared();
  const entry: Prepared = {
    ...unfaulted(size, false),
    halted: false,
    timer: setTimeout(() => {
      if (prepared !== entry) return;
      dropPrepared();
      // No result of that size for a minute: jobs starting later make none.
      lastSize = 0;
    }, SPARE_MS),
  };
  Deno.unrefTimer(entry.timer);
  prepared = entry;
  preparing.made++;
  fault(entry, working);
}

function fault(entry: Prepared, working: () => boolean): void {
  entry.halted = false;
  // A kernel never exits by itself: its buffer is faulted to the end.
  const zeroed = faultAhead(entry, ahead, ahead ? () => true : working);
  entry.zeroed = zeroed;
  Promise.all(zeroed).then((done) => {
    if (entry.zeroed !== zeroed) return;
    entry.ready = done.every(Boolean);
    entry.halted = !entry.ready && !entry.dropped;
  });
}

// Buffers given back by a process that only passes them on (a runner
// serving a result to a kernel), by size: the next big result of that size
// is read into one, its pages faulted already. Never in a kernel, whose
// buffers belong to the notebook.
const spares = new Map<number, Uint8Array[]>();
let spareBytes = 0;
const SPARE_MAX = 256 * 1024 * 1024;
const SPARE_MS = 60_000;

function takeSpare(size: number): Uint8Array | undefined {
  const reused = spares.get(size)?.pop();
  if (reused) spareBytes -= size;
  return reused;
}

/** How far a buffer of {@linkcode readBehind} is read. */
export interface Filling {
  /** Bytes read so far, from the start. */
  readonly filled: number;
  /** Resolves once all are read; rejects when the stream failed first. */
  readonly done: Promise<void>;
  /**
   * Resolves when more is read, or at the end, or on failure (and at once
   * from then on: a reader waits on `done` as well).
   */
  more(): Promise<void>;
}

const fillings = new WeakMap<Uint8Array, Filling>();
// Small enough that a reader of the buffer follows closely.
const STEP = 1024 * 1024;

/**
 * Returns a buffer for the next `size` bytes of a stream at once, and reads
 * them into it behind the caller's back, after `after` (the stream's
 * previous read behind) has settled: a process that only passes a big
 * result on (a runner) sends its first bytes on while the last still come.
 * {@linkcode fillingOf} says how far it is.
 *
 * @param reader The stream.
 * @param size How many bytes.
 * @param after What must be read from the stream first.
 * @returns The buffer, being filled.
 */
export function readBehind(
  reader: ByteReader,
  size: number,
  after: Promise<unknown>,
): Uint8Array {
  const bytes = takeSpare(size) ?? new Uint8Array(size);
  let filled = 0;
  let step = Promise.withResolvers<void>();
  const done = (async () => {
    await after;
    try {
      while (filled < size) {
        const end = Math.min(size, filled + STEP);
        await readInto(reader, bytes, filled, end);
        filled = end;
        step.resolve();
        step = Promise.withResolvers<void>();
      }
    } finally {
      step.resolve();
    }
  })();
  done.catch(() => {}); // its readers see it
  fillings.set(bytes, {
    get filled() {
      return filled;
    },
    done,
    more: () => step.promise,
  });
  return bytes;
}

/**
 * How far a buffer of {@linkcode readBehind} is read.
 *
 * @param bytes The buffer.
 * @returns Its filling, or `undefined` for any other buffer (whole).
 */
export function fillingOf(bytes: Uint8Array): Filling | undefined {
  return fillings.get(bytes);
}

/**
 * Waits until every buffer among `parts` is read in full.
 *
 * @param parts A result's raw parts (buffers, tables' rows).
 * @throws {Error} When the stream of one failed first.
 */
export async function whenFilled(parts: readonly unknown[]): Promise<void> {
  for (const part of parts) {
    if (part instanceof Uint8Array) await fillingOf(part)?.done;
  }
}

/**
 * Gives a big buffer back for a later {@linkcode readFresh} or
 * {@linkcode readBehind} of its size,
 * for a minute. Only for a buffer nothing refers to any more.
 *
 * @param bytes The buffer (a whole `ArrayBuffer` of over 4 MiB, else kept
 * by nobody).
 */
export function recycle(bytes: Uint8Array): void {
  const size = bytes.byteLength;
  if (
    size <= PIECE || bytes.byteOffset !== 0 ||
    bytes.buffer.byteLength !== size || spareBytes + size > SPARE_MAX
  ) return;
  const list = spares.get(size) ?? [];
  spares.set(size, list);
  list.push(bytes);
  spareBytes += size;
  const drop = setTimeout(() => {
    const at = list.indexOf(bytes);
    if (at < 0) return; // taken meanwhile
    list.splice(at, 1);
    spareBytes -= size;
  }, SPARE_MS);
  Deno.unrefTimer(drop);
}
