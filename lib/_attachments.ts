// The bulk socket: a Unix socket per runtime that carries the big raw
// attachments of a job's result, beside the control FIFOs.
//
// A FIFO moves at most 64 KiB per read (its buffer), and Deno reads it on a
// blocking thread, one hop per read: ~0.5 GB/s. A Unix socket is read on the
// kernel's event loop in reads of ~200 KiB: twice that. The kernel listens
// in the channel's private directory; the runtime connects at startup,
// before it opens the FIFOs (so it is connected once the kernel sees them
// open and unlinks the directory), and drops its grants on the path before
// any job code runs. Socket writes are async only, so the socket carries the
// final result, sent when the job is done; `share()` and `progress()`, which
// must work from a busy loop, keep the FIFO. Without the socket (it could
// not be made or reached) everything goes through the FIFO, as before.
import type { RuntimeSpec } from "./runtime_process.ts";
import type { ByteReader } from "./_frames.ts";

/** The socket's name in the channel directory. */
export const BULK_NAME = "bulk";

/** Attachments of at least this many bytes in all take the socket. */
export const BULK_MIN = 1024 * 1024;

/**
 * Listens on the bulk socket in `dir`, or returns `undefined` when a Unix
 * socket cannot be made there (the runtime then sends all through the FIFO).
 */
export function listenBulk(dir: string): Deno.UnixListener | undefined {
  try {
    return Deno.listen({ transport: "unix", path: `${dir}/${BULK_NAME}` });
  } catch {
    return undefined;
  }
}

/**
 * Adds what the runtime needs to connect to the bulk socket (read, write and
 * `unix:` net access to its path) to `flags`, unless the job has it already.
 *
 * @returns The flags, and the letters (`r`, `w`, `n`) of the grants added,
 * which the runtime revokes once connected (`-` when none).
 */
export function grantBulk(
  flags: string[],
  spec: RuntimeSpec,
  dir: string,
): { flags: string[]; added: string } {
  const path = `${dir}/${BULK_NAME}`;
  const netAll = spec.flags.includes("--allow-net");
  let added = "";
  for (
    const [letter, name, all, value] of [
      ["r", "read", spec.readAll, path],
      ["w", "write", spec.writeAll, path],
      ["n", "net", netAll, `unix:${path}`],
    ] as const
  ) {
    if (all) continue;
    const prefix = `--allow-${name}=`;
    const own = flags.find((f) => f.startsWith(prefix));
    flags = [
      ...flags.filter((f) => f !== own),
      own ? `${own},${value}` : `${prefix}${value}`,
    ];
    added += letter;
  }
  return { flags, added: added || "-" };
}

/**
 * The runtime's side: connects to the bulk socket in `dir`, then revokes the
 * grants `added` for it. Resolves to `undefined` when it cannot connect.
 */
export async function connectBulk(
  dir: string,
  added: string,
): Promise<Deno.UnixConn | undefined> {
  const path = `${dir}/${BULK_NAME}`;
  let conn: Deno.UnixConn | undefined;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch { /* no socket: the FIFO carries everything */ }
  if (added.includes("r")) Deno.permissions.revokeSync({ name: "read", path });
  if (added.includes("w")) Deno.permissions.revokeSync({ name: "write", path });
  if (added.includes("n")) {
    Deno.permissions.revokeSync({ name: "net", host: `unix:${path}` });
  }
  return conn;
}

/** Whether a message's attachments (`value.raw`) are big enough for the socket. */
export function bulky(message: unknown): boolean {
  const raw = (message as { value?: { raw?: unknown } } | null)?.value?.raw;
  if (!Array.isArray(raw)) return false;
  let bytes = 0;
  for (const part of raw as Uint8Array[]) bytes += part.byteLength;
  return bytes >= BULK_MIN;
}

/** Writes attachments to the socket, in order, each in full. */
export async function writeBulk(
  conn: Deno.UnixConn,
  attachments: Uint8Array[],
): Promise<void> {
  for (const bytes of attachments) {
    let off = 0;
    while (off < bytes.byteLength) {
      off += await conn.write(bytes.subarray(off));
    }
  }
}

/**
 * Reads `size` bytes from `conn` straight into a buffer of their own (the
 * decoder makes it the value's `ArrayBuffer`, uncopied).
 *
 * @throws {Error} When the stream ends first (the runtime died).
 */
export async function readAttachment(
  conn: ByteReader,
  size: number,
): Promise<Uint8Array> {
  const bytes = new Uint8Array(size);
  let off = 0;
  while (off < size) {
    const n = await conn.read(bytes.subarray(off));
    if (n === null) {
      throw new Error("Job runtime channel closed in the middle of a message");
    }
    off += n;
  }
  return bytes;
}
