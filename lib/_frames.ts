// Length-prefixed frames of `node:v8` serialized values over a byte stream:
// the control channel between the kernel and a job runtime. Job output never
// travels here (it goes through the runtime's stdout pipe), so nothing a job
// prints can corrupt a frame.
import { deserialize, serialize } from "node:v8";

const HEADER = 4;

/** Something bytes can be read from (a `Deno.Conn`). */
export interface ByteReader {
  read(p: Uint8Array): Promise<number | null>;
}
/** Something bytes can be written to (a `Deno.Conn`). */
export interface ByteWriter {
  write(p: Uint8Array): Promise<number>;
}
/** Something bytes can be written to synchronously. */
export interface ByteWriterSync {
  writeSync(p: Uint8Array): number;
}

/** Encodes one message as a frame: a u32 big-endian length, then the bytes. */
export function encodeFrame(message: unknown): Uint8Array {
  const body = serialize(message);
  const frame = new Uint8Array(HEADER + body.byteLength);
  new DataView(frame.buffer).setUint32(0, body.byteLength);
  frame.set(body, HEADER);
  return frame;
}

/** Writes all of `bytes` to `conn`, however many writes it takes. */
export async function writeAll(
  conn: ByteWriter,
  bytes: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < bytes.byteLength) off += await conn.write(bytes.subarray(off));
}

/** Synchronous twin of {@linkcode writeAll}, for the runtime's last words. */
export function writeAllSync(conn: ByteWriterSync, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.byteLength) off += conn.writeSync(bytes.subarray(off));
}

async function readExact(
  conn: ByteReader,
  buf: Uint8Array,
): Promise<boolean> {
  let off = 0;
  while (off < buf.byteLength) {
    const n = await conn.read(buf.subarray(off));
    if (n === null) {
      if (off === 0) return false;
      throw new Error("Job runtime channel closed in the middle of a message");
    }
    off += n;
  }
  return true;
}

/** Reads frames from `conn` until it closes, yielding each decoded message. */
export async function* readFrames(
  conn: ByteReader,
): AsyncGenerator<unknown, void, void> {
  const header = new Uint8Array(HEADER);
  while (await readExact(conn, header)) {
    const length = new DataView(header.buffer).getUint32(0);
    const body = new Uint8Array(length);
    if (!await readExact(conn, body)) {
      throw new Error("Job runtime channel closed in the middle of a message");
    }
    yield deserialize(body);
  }
}
