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

/** How long a runtime waits for the kernel to find its marks, at most. */
export const MARKED_MS = 2000;

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
 * Marks the big attachments of a frame's parts to be pulled: their first
 * bytes (saved in the marks) become random ones the kernel looks for. Not a
 * `SharedArrayBuffer`'s (other threads could see the mark) nor a resizable
 * buffer's.
 *
 * @param parts The frame's parts, `[head, body, ...attachments]`.
 * @returns The marks, by attachment.
 */
export function markForPull(parts: FrameParts): Marks {
  const marks: Marks = new Map();
  parts.slice(2).forEach((part, i) => {
    if (!(part instanceof Uint8Array) || part.byteLength < PULL_MIN) return;
    const buffer = part.buffer as ArrayBuffer;
    if (!(buffer instanceof ArrayBuffer) || buffer.resizable) return;
    const mark = crypto.getRandomValues(new Uint8Array(MARK));
    marks.set(i, { offset: part.byteOffset, mark, saved: part.slice(0, MARK) });
    part.set(mark);
  });
  return marks;
}

/**
 * Waits, blocking this thread so no code of the job runs meanwhile, until
 * the kernel has put every mark's bytes back, or `ms` have passed: then puts
 * back itself those it has not.
 *
 * @param parts The frame's parts, as marked.
 * @param marks The marks.
 * @param ms How long at most.
 */
export function awaitUnmarked(
  parts: FrameParts,
  marks: Marks,
  ms: number = MARKED_MS,
): void {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const until = performance.now() + ms;
  for (;;) {
    const left = [...marks].filter(([i, { mark }]) =>
      starts(parts[i + 2] as Uint8Array, mark)
    );
    if (left.length === 0) return;
    if (performance.now() >= until) {
      for (const [i, { saved }] of left) {
        (parts[i + 2] as Uint8Array).set(saved);
      }
      return;
    }
    Atomics.wait(nap, 0, 0, 0.05);
  }
}

function starts(bytes: Uint8Array, mark: Uint8Array): boolean {
  for (let i = 0; i < mark.length; i++) if (bytes[i] !== mark[i]) return false;
  return true;
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
  let writing = Promise.resolve();
  for (const [k, part] of parts.entries()) {
    if (marks?.has(k - 1)) {
      await writing;
      const answer = new Uint8Array(1);
      await readInto(conn, answer);
      if (answer[0] === 1) continue; // pulled
    }
    // Reused buffers: a chunk's bytes are written before the one after the
    // next is taken (each write is awaited before the next is started).
    for (const bytes of frameBytes([part], true)) {
      await writing;
      writing = writeAll(conn, bytes);
    }
  }
  await writing;
}
