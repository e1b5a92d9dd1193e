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
 * @module
 */
import { type ByteReader, readInto } from "../protocol/byte_streams.ts";
import { adviseHugePages } from "./libc.ts";

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
export async function readFresh(
  reader: ByteReader,
  size: number,
): Promise<Uint8Array> {
  const reused = spares.get(size)?.pop();
  if (reused) {
    spareBytes -= size;
    await readInto(reader, reused);
    return reused;
  }
  const bytes = new Uint8Array(size);
  if (size > PIECE) adviseHugePages(bytes);
  const files = size > PIECE ? await zeroFiles() : undefined;
  if (!files) {
    await readInto(reader, bytes);
    return bytes;
  }
  let stop = false; // the stream failed: no more zeroing
  const lanes: Promise<unknown>[] = files.map(() => Promise.resolve());
  const zeroed: Promise<unknown>[] = [];
  for (let at = 0, i = 0; at < size; at += PIECE, i++) {
    const lane = i % files.length;
    const piece = bytes.subarray(at, Math.min(size, at + PIECE));
    lanes[lane] = lanes[lane].then(() => {
      if (!stop) return readInto(files[lane], piece);
    }).catch(() => {}); // not faulted ahead: the stream's read faults it
    zeroed.push(lanes[lane]);
  }
  try {
    for (let at = 0, i = 0; at < size; at += PIECE, i++) {
      await zeroed[i];
      await readInto(reader, bytes, at, Math.min(size, at + PIECE));
    }
  } finally {
    stop = true;
  }
  return bytes;
}

// Buffers given back by a process that only passes them on (a runner
// serving a result to a kernel), by size: the next big result of that size
// is read into one, its pages faulted already. Never in a kernel, whose
// buffers belong to the notebook.
const spares = new Map<number, Uint8Array[]>();
let spareBytes = 0;
const SPARE_MAX = 256 * 1024 * 1024;
const SPARE_MS = 60_000;

/**
 * Gives a big buffer back for a later {@linkcode readFresh} of its size,
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
