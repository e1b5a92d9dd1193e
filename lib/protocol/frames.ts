// Length-prefixed frames of V8-serialized values over a byte stream:
// the control channel between the kernel and a job runtime. Job output never
// travels here (it goes through the runtime's stdout pipe), so nothing a job
// prints can corrupt a frame.
import { serializer } from "./serializer.ts";
import { ChunkWriter, readChunk } from "./table_wire.ts";
import type {
  KernelMessage,
  RuntimeMessage,
  UnreadableMessage,
} from "./messages.ts";
import {
  type ByteReader,
  concat,
  MARK,
  MARK_FIELDS,
  type Marks,
  type PullMark,
  type PullReader,
  readAttachment,
  readInto,
  readOrEnd,
} from "./byte_streams.ts";
import {
  TableChanged,
  type TableChunk,
  type TableChunks,
  TableReceiver,
} from "../codec/table_chunks.ts";

const { serialize, deserialize } = serializer;

/**
 * A part of a frame: bytes, or a big table's chunks (see
 * `codec/table_chunks.ts`), serialized one at a time as they are written,
 * each after its u32 length, then a zero length.
 */
export type FramePart = Uint8Array | TableChunks;

/** A frame as parts to write in order: its head, then the rest. */
export type FrameParts = [head: Uint8Array, ...rest: FramePart[]];

/** The size a frame's head gives a table's chunks: they say their own. */
const CHUNKED = -1;

const HEADER = 4;

/**
 * What fits in a pipe in one write, whatever its size: a write of this much
 * into an empty pipe never blocks, and one read takes it all.
 */
export const PIPE_BUF = 4096;

/** Encodes one message as a frame: a u32 big-endian length, then the bytes. */
export function encodeFrame(message: unknown): Uint8Array {
  return concat([...frameBytes(encodeFrameParts(message))]);
}

/**
 * The bytes of a frame's parts, in order, a table's chunks turned into bytes
 * as they are reached: a writer that writes each before taking the next
 * holds one chunk at a time. With `reuse`, a chunk's bytes are only valid
 * until the next but one is taken (two buffers in turn, see `table_wire.ts`):
 * for writers that write what they take before taking more than one more.
 */
export function* frameBytes(
  parts: FramePart[],
  reuse = false,
): Generator<Uint8Array> {
  let writer: ChunkWriter | undefined;
  for (const part of parts) {
    if (part instanceof Uint8Array) {
      yield part;
      continue;
    }
    const chunks = part.travel();
    for (;;) {
      let next: IteratorResult<TableChunk>;
      try {
        next = chunks.next();
      } catch (error) {
        // The table changed as it was taken apart: the reader drops the
        // frame, and the sender sends the value again (see TableChanged).
        if (error instanceof TableChanged) yield lengthWord(DROP);
        throw error;
      }
      if (next.done) break;
      writer ??= new ChunkWriter(reuse);
      // The length word and the chunk in one piece: one write.
      const bytes = writer.bytes(next.value, HEADER);
      const length = checkSize(bytes.subarray(HEADER)).byteLength;
      new DataView(bytes.buffer, bytes.byteOffset).setUint32(0, length);
      yield bytes;
    }
    yield lengthWord(0);
  }
}

/** A table chunk's length word that drops the frame it is in. */
const DROP = 0xffffffff;

/** A frame the sender dropped half-way, to send again. */
class Dropped extends Error {}

function lengthWord(length: number): Uint8Array {
  const word = new Uint8Array(HEADER);
  new DataView(word.buffer).setUint32(0, length);
  return word;
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
 * `[head, body, ...attachments]` (write them with {@linkcode frameBytes}).
 */
export function encodeFrameParts(message: unknown): FrameParts {
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

function sizeOf(part: FramePart): number {
  return part instanceof Uint8Array ? part.byteLength : CHUNKED;
}

/**
 * The parts of a frame (from {@linkcode encodeFrameParts}) with a head that
 * says the body and the attachments travel on the bulk socket: the caller
 * writes the head to the stream and the rest to the socket.
 */
export function onBulk(parts: FrameParts, marks?: Marks): FrameParts {
  const [, body, ...raw] = parts;
  return [frameHead(sizeOf(body), raw, true, marks), ...parts.slice(1)];
}

const MARK_BYTES = 8 + MARK_FIELDS.length * MARK;

/**
 * Bytes of a frame's parts after its head: what the bulk socket would carry
 * (`Infinity` with a table's chunks: a big table, whatever its size).
 */
export function frameSize(parts: FramePart[]): number {
  let bytes = 0;
  for (let i = 1; i < parts.length; i++) {
    const size = sizeOf(parts[i]);
    bytes += size === CHUNKED ? Infinity : size;
  }
  return bytes;
}

// A marked attachment's size is negative in the head, and its mark follows
// the sizes: the reader finds it before it reads anything else of the frame.
function frameHead(
  bodyLength: number,
  raw: FramePart[],
  bulk: boolean,
  marks?: Marks,
): Uint8Array {
  if (raw.length === 0 && !bulk) {
    const head = new Uint8Array(HEADER);
    new DataView(head.buffer).setUint32(0, bodyLength);
    return head;
  }
  const table = HEADER * 2 + 8 * raw.length;
  const head = new Uint8Array(table + MARK_BYTES * (marks?.size ?? 0));
  const view = new DataView(head.buffer);
  view.setUint32(0, (bodyLength | ATTACHED) >>> 0);
  view.setUint32(HEADER, (raw.length | (bulk ? ON_BULK : 0)) >>> 0);
  let at = table;
  raw.forEach((part, i) => {
    const marked = marks?.get(i);
    view.setFloat64(HEADER * 2 + 8 * i, (marked ? -1 : 1) * sizeOf(part));
    if (!marked) return;
    view.setFloat64(at, marked.offset);
    MARK_FIELDS.forEach((field, f) =>
      head.set(marked[field], at + 8 + f * MARK)
    );
    at += MARK_BYTES;
  });
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
    let marked: Marks = new Map();
    let pulls: Promise<Map<number, Uint8Array | undefined>> | undefined;
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
      marked = await readMarks(conn, sizes);
      if (marked.size) {
        // Marked or not, an attachment's size is its size from here on.
        sizes = sizes.map((size, i) => marked.has(i) ? -size : size);
        pulls = pullable(from).find(marked, sizes);
        pulls.catch(() => {});
      }
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
      let dropped = false;
      const pulled = await pulls?.catch(() => undefined);
      for (const [i, size] of sizes.entries()) {
        if (dropped) break;
        if (pulled?.get(i)) continue;
        await readPart(from, size).catch((e) => dropped = e instanceof Dropped);
      }
      if (!dropped) yield unreadable(error);
      continue;
    }
    if (sizes.length) {
      const raw: (Uint8Array | unknown[])[] = [];
      let failed: unknown;
      let pulled: Map<number, Uint8Array | undefined> | undefined;
      try {
        pulled = await pulls;
      } catch (error) {
        // The sender's memory could not be read (it is gone): so is the frame.
        yield unreadable(error);
        continue;
      }
      for (const [i, size] of sizes.entries()) {
        // A bad table's chunks are all read, so the stream stays in step;
        // a dropped frame has no more parts (it comes again whole). A marked
        // attachment not found comes on the socket after all.
        const found = pulled?.get(i);
        const part = found ??
          await readPart(from, size).catch((e) => failed ??= e);
        if (failed instanceof Dropped) break;
        raw.push(part);
      }
      if (failed instanceof Dropped) continue;
      if (failed !== undefined) {
        yield unreadable(failed);
        continue;
      }
      (message as { value: { raw?: unknown[] } }).value.raw = raw;
    }
    yield message;
  }
}

// The marks a head carries after its sizes, by attachment.
async function readMarks(conn: ByteReader, sizes: number[]): Promise<Marks> {
  const marks: Marks = new Map();
  for (const [i, size] of sizes.entries()) {
    if (size >= 0 || size === CHUNKED) continue;
    const bytes = new Uint8Array(MARK_BYTES);
    await readInto(conn, bytes);
    const mark = { offset: new DataView(bytes.buffer).getFloat64(0) };
    MARK_FIELDS.forEach((field, f) =>
      (mark as Record<string, unknown>)[field] = bytes.slice(
        8 + f * MARK,
        8 + (f + 1) * MARK,
      )
    );
    marks.set(i, mark as PullMark);
  }
  return marks;
}

function pullable(from: ByteReader): PullReader {
  if (!("find" in from)) {
    throw new Error("Job runtime marked attachments where none can be pulled");
  }
  return from as PullReader;
}

function unreadable(error: unknown): UnreadableMessage {
  return {
    t: "unreadable",
    name: (error as Error).name,
    message: String((error as Error).message),
  };
}

/** An attachment's bytes, or a table's rows rebuilt as its chunks arrive. */
function readPart(
  from: ByteReader,
  size: number,
): Promise<Uint8Array | unknown[]> {
  return size === CHUNKED ? readTable(from) : readAttachment(from, size, true);
}

/**
 * Reads a table's chunks, rebuilding its rows as each arrives (while the
 * sender serializes the next), through one buffer reused for every chunk.
 *
 * @throws When a chunk cannot be read as rows (after reading all of them),
 * or `Dropped` when the sender dropped the frame.
 */
async function readTable(from: ByteReader): Promise<unknown[]> {
  const receiver = new TableReceiver();
  const word = new Uint8Array(HEADER);
  let scratch = new Uint8Array(0);
  let failed: unknown;
  for (;;) {
    await readInto(from, word);
    const length = new DataView(word.buffer).getUint32(0);
    if (length === 0) break;
    if (length === DROP) throw new Dropped();
    if (length > MAX_BODY) throw new RangeError("A table's chunk is too big");
    if (scratch.byteLength < length) scratch = new Uint8Array(length);
    const bytes = scratch.subarray(0, length);
    await readInto(from, bytes);
    if (failed !== undefined) continue;
    try {
      receiver.add(readChunk(bytes));
    } catch (error) {
      failed = error;
    }
  }
  if (failed !== undefined) throw failed;
  return receiver.rows;
}
