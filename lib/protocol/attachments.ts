// A job's big result travels on the bulk socket: a Unix socket per runtime
// beside the control FIFOs; the frame's head stays on the FIFO, its body and
// attachments take the socket. This is the part both sides share, and the
// runtime's; the kernel's is in `launch/bulk_socket.ts`.
//
// A FIFO moves at most 64 KiB per read (its buffer), and Deno reads it on a
// blocking thread, one hop per read: ~0.5 GB/s. A Unix socket is read on the
// kernel's event loop in reads of ~200 KiB: twice that. The kernel listens
// in the channel's private directory; the runtime connects once it has
// opened the FIFOs (while the kernel gets its first message ready), and
// drops its grants on the path before it acts on any message; the kernel
// removes the directory once it has the connection. Socket writes are async
// only, so the socket carries the final result, sent when the job is done;
// `share()` and `progress()`, which must work from a busy loop, keep the
// FIFO. Without the socket (it could not be made or reached) everything goes
// through the FIFO, as before.
import { MARK, type Marks, readInto, writeAll } from "./byte_streams.ts";
import {
  frameBytes,
  type FramePart,
  type FrameParts,
  frameSize,
} from "./frames.ts";

/** The socket's name in the channel directory. */
export const BULK_NAME = "bulk";

/** A frame whose body and attachments are this many bytes or more takes the socket. */
export const BULK_MIN = 1024 * 1024;

/**
 * An attachment this big or bigger is marked to be pulled from the
 * runtime's memory, where the kernel says it can (see `os/pull.ts`).
 */
export const PULL_MIN = 4 * 1024 * 1024;

/**
 * The runtime's side: connects to the bulk socket in `dir`, then revokes the
 * grants `added` for it (letters `r`, `w`, `n`, from the kernel's
 * `grantBulk`). Resolves to `undefined` when it cannot connect.
 */
export async function connectBulk(
  dir: string,
  added: string,
): Promise<Deno.UnixConn | undefined> {
  const path = `${dir}/${BULK_NAME}`;
  // Deno checks the grants when connect() is called, before it returns.
  const connecting = Deno.connect({ transport: "unix", path });
  if (added.includes("r")) Deno.permissions.revokeSync({ name: "read", path });
  if (added.includes("w")) Deno.permissions.revokeSync({ name: "write", path });
  if (added.includes("n")) {
    Deno.permissions.revokeSync({ name: "net", host: `unix:${path}` });
  }
  try {
    return await connecting;
  } catch {
    return undefined; // no socket: the FIFO carries everything
  }
}

/** Whether a frame's parts (`encodeFrameParts`) are big enough for the socket. */
export function bulky(parts: FramePart[]): boolean {
  return frameSize(parts) >= BULK_MIN;
}

/**
 * Marks the big attachments of a frame's parts to be pulled: each is first
 * moved out of the job's reach (`ArrayBuffer.prototype.transfer()`, which
 * keeps its memory: the job's views of it are detached, as after a
 * transfer), then its first bytes (saved in the mark) become random ones the
 * kernel looks for. Not a `SharedArrayBuffer`'s nor a resizable buffer's, and
 * none when the frame has a table's chunks (a table that changes as it is
 * sent makes the value encoded again, buffers included).
 *
 * @param parts The frame's parts, `[head, body, ...attachments]`; marked
 * attachments are replaced by views of their moved buffers.
 * @returns The marks, by attachment.
 */
export function markForPull(parts: FrameParts): Marks {
  const marks: Marks = new Map();
  if (parts.some((part) => !(part instanceof Uint8Array))) return marks;
  for (let i = 0; i + 2 < parts.length; i++) {
    const { buffer, byteOffset, byteLength } = parts[i + 2] as Uint8Array;
    if (
      byteLength < PULL_MIN || !(buffer instanceof ArrayBuffer) ||
      buffer.resizable || buffer.detached
    ) continue;
    let taken: ArrayBuffer;
    try {
      taken = buffer.transfer();
    } catch {
      continue; // not movable (a WebAssembly.Memory's): sent as it is
    }
    const moved = new Uint8Array(taken, byteOffset, byteLength);
    parts[i + 2] = moved;
    const saved = moved.slice(0, MARK);
    const key = crypto.getRandomValues(new Uint8Array(MARK));
    // Made in place: no other copy of the mark, which the kernel could find.
    const mark = crypto.getRandomValues(moved.subarray(0, MARK));
    const masked = key.map((k, b) => k ^ mark[b]);
    const tail = moved.slice(byteLength - MARK);
    marks.set(i, { offset: byteOffset, masked, key, saved, tail });
  }
  return marks;
}

/**
 * Writes parts of a frame to the socket, in order, each in full; a table's
 * next chunk is serialized while the last one is being written. A marked
 * attachment is written only if the kernel's answer says it was not found.
 *
 * @param conn The bulk socket.
 * @param parts The frame's parts after its head: `[body, ...attachments]`.
 * @param marks The attachments marked, by index.
 */
export async function writeBulk(
  conn: Deno.UnixConn,
  parts: FramePart[],
  marks?: Marks,
): Promise<void> {
  // The kernel answers every mark as soon as it has read the head.
  const pulled = new Set<number>();
  if (marks?.size) {
    const answers = new Uint8Array(marks.size);
    await readInto(conn, answers);
    [...marks.keys()].forEach((i, k) => answers[k] === 1 && pulled.add(i));
  }
  let writing = Promise.resolve();
  for (const [k, part] of parts.entries()) {
    if (pulled.has(k - 1)) continue;
    // Not found: its own bytes, after all.
    const saved = marks?.get(k - 1)?.saved;
    if (saved) (part as Uint8Array).set(saved);
    // Reused buffers: a chunk's bytes are written before the one after the
    // next is taken (each write is awaited before the next is started).
    for (const bytes of frameBytes([part], true)) {
      await writing;
      writing = writeAll(conn, bytes);
    }
  }
  await writing;
}
