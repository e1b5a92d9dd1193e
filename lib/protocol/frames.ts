// Length-prefixed frames of V8-serialized values over a byte stream:
// the control channel between the kernel and a job runtime. Job output never
// travels here (it goes through the runtime's stdout pipe), so nothing a job
// prints can corrupt a frame.
import { serializer } from "./serializer.ts";
import { readAttachment } from "./attachments.ts";

const { serialize, deserialize } = serializer;

const HEADER = 4;

/**
 * What fits in a pipe in one write, whatever its size: a write of this much
 * into an empty pipe never blocks, and one read takes it all.
 */
export const PIPE_BUF = 4096;

/** Something bytes can be read from (a FIFO opened as a `Deno.FsFile`). */
export interface ByteReader {
  read(p: Uint8Array): Promise<number | null>;
}
/** Something bytes can be written to (a FIFO opened as a `Deno.FsFile`). */
export interface ByteWriter {
  write(p: Uint8Array): Promise<number>;
}
/** Something bytes can be written to synchronously. */
export interface ByteWriterSync {
  writeSync(p: Uint8Array): number;
}

/** Encodes one message as a frame: a u32 big-endian length, then the bytes. */
export function encodeFrame(message: unknown): Uint8Array {
  const parts = encodeFrameParts(message);
  if (parts.length === 1) return parts[0];
  const frame = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    frame.set(part, offset);
    offset += part.byteLength;
  }
  return frame;
}

// A message whose `value.raw` is a list of byte arrays (a codec packet's big
// buffers) sends them raw after the body: the length word has its top bit
// set and is followed by their count and lengths. No serializer touches
// those bytes, and the reader reads each straight into its own buffer.
const ATTACHED = 0x80000000;
/** The top bit of the length word flags attachments: bodies stay below it. */
const MAX_BODY = ATTACHED - 1;

function checkSize(body: Uint8Array): Uint8Array {
  if (body.byteLength > MAX_BODY) {
    const gib = (body.byteLength / 2 ** 30).toFixed(1);
    throw new RangeError(
      `Cannot send ${gib} GiB in one message: the most is 2 GiB; send less (or typed arrays, which travel apart), or write it to a file`,
    );
  }
  return body;
}

/** The top bit of the count word: the attachments take the bulk socket. */
const ON_BULK = 0x80000000;

/**
 * {@linkcode encodeFrame} as parts to write in order, attachments uncopied:
 * `[head, body, ...attachments]`. With `onBulk`, the head says the
 * attachments travel on the bulk socket (see `protocol/attachments.ts`): the caller
 * writes the first two parts to the FIFO and the rest to the socket.
 */
export function encodeFrameParts(
  message: unknown,
  onBulk = false,
): Uint8Array[] {
  const value = (message as { value?: { raw?: unknown } } | null)?.value;
  const raw = value?.raw;
  if (!Array.isArray(raw) || raw.length === 0) {
    const body = checkSize(serialize(message));
    const head = new Uint8Array(HEADER);
    new DataView(head.buffer).setUint32(0, body.byteLength);
    return [head, body];
  }
  const { raw: _, ...rest } = value as Record<string, unknown>;
  const body = checkSize(serialize({ ...(message as object), value: rest }));
  const head = new Uint8Array(HEADER * 2 + 8 * raw.length);
  const view = new DataView(head.buffer);
  view.setUint32(0, (body.byteLength | ATTACHED) >>> 0);
  view.setUint32(HEADER, (raw.length | (onBulk ? ON_BULK : 0)) >>> 0);
  raw.forEach((bytes: Uint8Array, i) =>
    view.setFloat64(HEADER * 2 + 8 * i, bytes.byteLength)
  );
  return [head, body, ...raw];
}

/**
 * `conn`, with `prefix` (bytes read from it before) read first. Those reads
 * settle at once: no read of `conn` waits behind them.
 */
export function withPrefix(conn: ByteReader, prefix: Uint8Array): ByteReader {
  let rest = prefix;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (rest.byteLength === 0) return conn.read(p);
      const n = Math.min(p.byteLength, rest.byteLength);
      p.set(rest.subarray(0, n));
      rest = rest.subarray(n);
      return Promise.resolve(n);
    },
  };
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

async function readAll(conn: ByteReader, buf: Uint8Array): Promise<void> {
  if (!await readExact(conn, buf)) {
    throw new Error("Job runtime channel closed in the middle of a message");
  }
}

/**
 * Reads frames from `conn` until it closes, yielding each decoded message.
 * `bulk` gives the stream of attachments sent on the bulk socket.
 */
export async function* readFrames(
  conn: ByteReader,
  bulk?: () => Promise<ByteReader>,
): AsyncGenerator<unknown, void, void> {
  const header = new Uint8Array(HEADER);
  while (await readExact(conn, header)) {
    const word = new DataView(header.buffer).getUint32(0);
    let sizes: number[] = [];
    let from = conn;
    if (word & ATTACHED) {
      const count = new Uint8Array(HEADER);
      await readAll(conn, count);
      const counted = new DataView(count.buffer).getUint32(0);
      if (counted & ON_BULK) {
        if (!bulk) throw new Error("Job runtime sent on a socket it lacks");
        from = await bulk();
      }
      const table = new Uint8Array(8 * ((counted & ~ON_BULK) >>> 0));
      await readAll(conn, table);
      const view = new DataView(table.buffer);
      sizes = Array.from(
        { length: table.length / 8 },
        (_, i) => view.getFloat64(8 * i),
      );
    }
    const body = new Uint8Array((word & ~ATTACHED) >>> 0);
    await readAll(conn, body);
    let message: { value: { raw?: Uint8Array[] } };
    try {
      message = deserialize(body) as typeof message;
    } catch (error) {
      // The stream is still in step (the whole body was read): report it.
      for (const size of sizes) await readAttachment(from, size);
      yield {
        t: "unreadable",
        name: (error as Error).name,
        message: String((error as Error).message),
      };
      continue;
    }
    if (sizes.length) {
      const raw: Uint8Array[] = [];
      for (const size of sizes) raw.push(await readAttachment(from, size));
      message.value.raw = raw;
    }
    yield message;
  }
}
