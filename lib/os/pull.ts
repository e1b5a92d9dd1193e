/**
 * Pulling a job's big result straight from its runtime's memory, where the
 * kernel may (`process_vm_readv`, through FFI): the runtime marks the
 * result's buffer (`protocol/attachments.ts`), the kernel finds the mark in
 * the runtime's writable mappings and reads the buffer into one of its own,
 * the marked bytes put right there. It only ever reads the runtime's memory.
 *
 * Why: sending a buffer through a socket makes Linux read pages the job has
 * only just written, which costs as much again as their first touch in a VM
 * that shadows page tables (~6 µs a page here, ~80 ms for 50 MiB);
 * `process_vm_readv` reaches them through Linux's own mapping of memory,
 * and reads 50 MiB in ~7 ms into a buffer ready for it.
 *
 * @module
 */
import type { PullMark } from "../protocol/byte_streams.ts";
import { MARK } from "../protocol/byte_streams.ts";
import { fillFresh } from "./fresh_read.ts";
import {
  canReachOtherProcesses,
  readOtherProcess,
  readOtherProcessOffThread,
  type Span,
} from "./libc.ts";

// glibc serves a big allocation from a mapping of its own, the buffer 16
// bytes after its start; mappings next to each other can show as one.
const PAGE = 4096n;
const CHUNK_HEAD = 16n;
// A mark not found among this many places is not looked for further.
const MAX_PLACES = 1 << 16;
// Spans per process_vm_readv (Linux's IOV_MAX).
const IOV_MAX = 1024;

let refused = false;
const counts = { pulled: 0, missed: 0 };

/**
 * Whether this process can pull from another's memory: with the `ffi`
 * permission, on glibc Linux, and not refused by Linux before.
 *
 * @returns Whether to let runtimes mark their big results.
 */
export function canPull(): boolean {
  return !refused && canReachOtherProcesses();
}

/**
 * How many marked buffers were pulled, and how many were not found (and
 * came through the socket), since this process started.
 *
 * @returns The counts.
 */
export function pullStats(): { pulled: number; missed: number } {
  return { ...counts };
}

/**
 * Finds the buffer `mark` is on in process `pid` (`size` bytes).
 *
 * @param pid The runtime's process.
 * @param mark The mark, as the head of the frame gave it.
 * @param size The buffer's size.
 * @param maps The process's mappings ({@linkcode mapsOf}).
 * @returns Where the buffer starts in that process, or `undefined` when the
 * mark is not found (the runtime then sends the bytes).
 */
export function locate(
  pid: number,
  mark: PullMark,
  size: number,
  maps: string | undefined = mapsOf(pid),
): bigint | undefined {
  const wanted = mark.key.map((k, b) => k ^ mark.masked[b]);
  const places = maps === undefined
    ? null
    : placesOf(maps, BigInt(mark.offset), BigInt(size));
  for (let b = 0; places && b < places.length; b += IOV_MAX) {
    const batch = places.slice(b, b + IOV_MAX);
    const seen = new Uint8Array(MARK * batch.length);
    const read = readOtherProcess(pid, seen, batch);
    if (read < 0) {
      refused = true; // not allowed here (ptrace rules): stop marking
      break;
    }
    for (let j = 0; (j + 1) * MARK <= read; j++) {
      if (!same(seen.subarray(j * MARK, (j + 1) * MARK), wanted)) continue;
      // And its end is the buffer's end: not some stray copy of the mark.
      const at = batch[j].at;
      const end = new Uint8Array(MARK);
      const tail = { at: at + BigInt(size - MARK), length: MARK };
      if (readOtherProcess(pid, end, [tail]) !== MARK) continue;
      if (same(end, mark.tail)) return at;
    }
  }
  counts.missed++;
  return undefined;
}

/**
 * Process `pid`'s mappings, as {@linkcode locate} reads them: read once for
 * all the marks of a frame.
 *
 * @param pid The runtime's process.
 * @returns `/proc/<pid>/maps`, or `undefined` when it is gone.
 */
export function mapsOf(pid: number): string | undefined {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/maps`);
  } catch {
    return undefined;
  }
}

// Where a buffer of `size` at `offset` in its allocation can start: in each
// private writable anonymous mapping, at every page plus the allocation's
// head, as far as the buffer fits.
function placesOf(maps: string, offset: bigint, size: bigint): Span[] | null {
  const places: Span[] = [];
  for (const line of maps.split("\n")) {
    const [range, perms, , , inode] = line.split(" ", 5);
    if (perms !== "rw-p" || inode !== "0") continue;
    const dash = range.indexOf("-");
    const start = BigInt(`0x${range.slice(0, dash)}`);
    const end = BigInt(`0x${range.slice(dash + 1)}`);
    for (let at = start + CHUNK_HEAD + offset; at + size <= end; at += PAGE) {
      if (places.push({ at, length: MARK }) > MAX_PLACES) return null;
    }
  }
  return places;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return a.length === b.length;
}

/**
 * Reads `size` bytes at `at` in process `pid` into a buffer of their own
 * (`os/fresh_read.ts`), on blocking threads, the mark's bytes put right.
 *
 * @param pid The runtime's process.
 * @param at Where the buffer starts there ({@linkcode locate}).
 * @param size Its size.
 * @param saved Its first bytes, as they were before the mark.
 * @returns The bytes.
 * @throws {Error} When the process is gone before all is read.
 */
export async function pullFrom(
  pid: number,
  at: bigint,
  size: number,
  saved: Uint8Array,
): Promise<Uint8Array> {
  const bytes = await fillFresh(size, async (into, from, to) => {
    const piece = into.subarray(from, to);
    const read = await readOtherProcessOffThread(pid, piece, at + BigInt(from));
    if (read !== piece.byteLength) {
      throw new Error("The job's runtime ended before its result was read");
    }
  });
  bytes.set(saved);
  counts.pulled++;
  return bytes;
}
