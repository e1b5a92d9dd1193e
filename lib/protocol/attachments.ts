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
import { writeAll } from "./byte_streams.ts";
import { frameBytes, type FramePart, frameSize } from "./frames.ts";

/** The socket's name in the channel directory. */
export const BULK_NAME = "bulk";

/** A frame whose body and attachments are this many bytes or more takes the socket. */
export const BULK_MIN = 1024 * 1024;

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
 * Writes parts of a frame to the socket, in order, each in full; a table's
 * next chunk is serialized while the last one is being written.
 */
export async function writeBulk(
  conn: Deno.UnixConn,
  parts: FramePart[],
): Promise<void> {
  let writing = Promise.resolve();
  // Reused buffers: a chunk's bytes are written before the one after the
  // next is taken (each write is awaited before the next is started).
  for (const bytes of frameBytes(parts, true)) {
    await writing;
    writing = writeAll(conn, bytes);
  }
  await writing;
}
