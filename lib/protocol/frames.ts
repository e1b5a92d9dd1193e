// Length-prefixed frames of V8-serialized values over a byte stream:
// the control channel between the kernel and a job runtime. Job output never
// travels here (it goes through the runtime's stdout pipe), so nothing a job
// prints can corrupt a frame.
import { serializer } from "./serializer.ts";
import type {
  KernelMessage,
  RuntimeMessage,
  UnreadableMessage,
} from "./messages.ts";
import {
  type ByteReader,
  readAttachment,
  readInto,
  readOrEnd,
} from "./byte_streams.ts";

const { serialize, deserialize } = serializer;

const HEADER = 4;

/**
 * What fits in a pipe in one write, whatever its size: a write of this much
 * into an empty pipe never blocks, and one read takes it all.
 */
export const PIPE_BUF = 4096;

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

/**
 * The top bit of the count word: the body and the attachments take the bulk
 * socket (see `protocol/attachments.ts`); the head stays on the stream.
 */
const ON_BULK = 0x80000000;

/**
 * {@linkcode encodeFrame} as parts to write in order, attachments uncopied:
 * `[head, body, ...attachments]`.
 */
export function encodeFrameParts(message: unknown): Uint8Array[] {
  const value = (message as { value?: { raw?: unknown } } | null)?.value;
  const raw = value?.raw;
  if (!Array.isArray(raw) || raw.length === 0) {
    const body = checkSize(serialize(message));
    return [frameHead(body.byteLength, [], false), body];
  }
  const { raw: _, ...rest } = value as Record<string, unknown>;
  const body = checkSize(serialize({ ...(message as object), value: rest }));
  return [frameHead(body.byteLength, raw, false), body, ...raw];
}

/**
 * The parts of a frame (from {@linkcode encodeFrameParts}) with a head that
 * says the body and the attachments travel on the bulk socket: the caller
 * writes the head to the stream and the rest to the socket.
 */
export function onBulk(parts: Uint8Array[]): Uint8Array[] {
  const [, body, ...raw] = parts;
  return [frameHead(body.byteLength, raw, true), ...parts.slice(1)];
}

/** Bytes of a frame's parts after its head: what the bulk socket would carry. */
export function frameBytes(parts: Uint8Array[]): number {
  let bytes = 0;
  for (let i = 1; i < parts.length; i++) bytes += parts[i].byteLength;
  return bytes;
}

function frameHead(
  bodyLength: number,
  raw: Uint8Array[],
  bulk: boolean,
): Uint8Array {
  if (raw.length === 0 && !bulk) {
    const head = new Uint8Array(HEADER);
    new DataView(head.buffer).setUint32(0, bodyLength);
    return head;
  }
  const head = new Uint8Array(HEADER * 2 + 8 * raw.length);
  const view = new DataView(head.buffer);
  view.setUint32(0, (bodyLength | ATTACHED) >>> 0);
  view.setUint32(HEADER, (raw.length | (bulk ? ON_BULK : 0)) >>> 0);
  raw.forEach((bytes, i) =>
    view.setFloat64(HEADER * 2 + 8 * i, bytes.byteLength)
  );
  return head;
}

/**
 * Reads frames from `conn` until it closes, yielding each decoded message:
 * the kernel reads {@linkcode RuntimeMessage}s, a runtime
 * {@linkcode KernelMessage}s. A frame that cannot be decoded yields an
 * {@linkcode UnreadableMessage}. `bulk` gives the bulk socket, which a frame
 * whose head says so has its body and attachments on.
 */
export async function* readFrames<M extends KernelMessage | RuntimeMessage>(
  conn: ByteReader,
  bulk?: () => Promise<ByteReader>,
): AsyncGenerator<M | UnreadableMessage, void, void> {
  const header = new Uint8Array(HEADER);
  while (await readOrEnd(conn, header)) {
    const word = new DataView(header.buffer).getUint32(0);
    let sizes: number[] = [];
    let from = conn;
    if (word & ATTACHED) {
      const count = new Uint8Array(HEADER);
      await readInto(conn, count);
      const counted = new DataView(count.buffer).getUint32(0);
      if (counted & ON_BULK) {
        if (!bulk) throw new Error("Job runtime sent on a socket it lacks");
        from = await bulk();
      }
      const table = new Uint8Array(8 * ((counted & ~ON_BULK) >>> 0));
      await readInto(conn, table);
      const view = new DataView(table.buffer);
      sizes = Array.from(
        { length: table.length / 8 },
        (_, i) => view.getFloat64(8 * i),
      );
    }
    const length = (word & ~ATTACHED) >>> 0;
    let body: Uint8Array;
    if (from === conn) {
      body = new Uint8Array(length);
      await readInto(conn, body);
    } else body = await readAttachment(from, length);
    let message: M;
    try {
      // The one place a message gets its type: what the other side sent.
      message = deserialize(body) as M;
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
      (message as { value: { raw?: Uint8Array[] } }).value.raw = raw;
    }
    yield message;
  }
}
