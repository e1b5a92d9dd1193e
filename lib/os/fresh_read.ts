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
  const ready = takeSpare(size) ?? takePrepared(size);
  if (ready) {
    await copy(ready, 0, size);
    prepare(size);
    return ready;
  }
  const bytes = new Uint8Array(size);
  if (size > PIECE) adviseHugePages(bytes);
  const files = size > PIECE ? await zeroFiles() : undefined;
  if (!files) {
    await copy(bytes, 0, size);
    return bytes;
  }
  let stop = false; // the copy failed: no more zeroing
  const zeroed = zeroAhead(bytes, files, () => stop);
  try {
    for (let at = 0, i = 0; at < size; at += PIECE, i++) {
      await zeroed[i];
      await copy(bytes, at, Math.min(size, at + PIECE));
    }
  } finally {
    stop = true;
  }
  prepare(size);
  return bytes;
}

// Reads /dev/zero into `bytes` a piece at a time over the `files` (each a
// lane of its own): the promise of each piece, settled once it is zeroed or
// given up (then the stream's read faults it).
function zeroAhead(
  bytes: Uint8Array,
  files: Deno.FsFile[],
  stopped: () => boolean,
): Promise<unknown>[] {
  const lanes: Promise<unknown>[] = files.map(() => Promise.resolve());
  const zeroed: Promise<unknown>[] = [];
  for (let at = 0, i = 0; at < bytes.byteLength; at += PIECE, i++) {
    const lane = i % files.length;
    const piece = bytes.subarray(at, Math.min(bytes.byteLength, at + PIECE));
    lanes[lane] = lanes[lane].then(() => {
      if (!stopped()) return readInto(files[lane], piece);
    }).catch(() => {});
    zeroed.push(lanes[lane]);
  }
  return zeroed;
}

// The buffer made ready for the next big result: one, of the last big
// result's size, kept for a minute (the memory is the notebook's, idle).
interface Prepared {
  bytes: Uint8Array;
  ready: boolean;
  timer: ReturnType<typeof setTimeout>;
}
let prepared: Prepared | undefined;
const preparing = { made: 0, used: 0 };
let ahead = false;

/**
 * Whether buffers are made ready ahead of big results: on in a notebook's
 * kernel, which never exits by itself. Off elsewhere, where the blocking
 * threads that fault one would keep a script alive for as long (~0.3 s for
 * 50 MiB here).
 *
 * @param on Whether to.
 */
export function prepareAhead(on: boolean): void {
  ahead = on;
  if (!on) dropPrepared();
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
  if (prepared) clearTimeout(prepared.timer);
  prepared = undefined;
}

function takePrepared(size: number): Uint8Array | undefined {
  // One still being faulted is left for the next: zeroes would land on data.
  if (!prepared?.ready || prepared.bytes.byteLength !== size) return undefined;
  const { bytes } = prepared;
  dropPrepared();
  preparing.used++;
  return bytes;
}

// Makes a buffer of `size` ready in the background: touched from user code
// on a blocking thread (where this process may call libc), then /dev/zero
// read into it on blocking threads, which faults it for Linux's writes.
function prepare(size: number): void {
  if (!ahead || size <= PIECE || size > SPARE_MAX) return;
  if (prepared?.bytes.byteLength === size) return;
  dropPrepared();
  const entry: Prepared = {
    bytes: new Uint8Array(size),
    ready: false,
    timer: setTimeout(() => {
      if (prepared === entry) dropPrepared();
    }, SPARE_MS),
  };
  Deno.unrefTimer(entry.timer);
  prepared = entry;
  preparing.made++;
  (async () => {
    const files = await zeroFiles();
    if (!files) return dropPrepared();
    await touchOffThread(entry.bytes);
    const gone = () => prepared !== entry;
    await Promise.all(zeroAhead(entry.bytes, files, gone));
    entry.ready = !gone();
  })().catch(() => {
    if (prepared === entry) dropPrepared();
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
