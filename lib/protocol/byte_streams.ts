/**
 * Reading and writing whole byte runs over the streams frames travel on:
 * FIFOs opened as `Deno.FsFile`, the kernel's relay pipe, the bulk socket.
 *
 * @module
 */

/** Something bytes can be read from. */
export interface ByteReader {
  read(p: Uint8Array): Promise<number | null>;
}
/** Something bytes can be written to. */
export interface ByteWriter {
  write(p: Uint8Array): Promise<number>;
}
/** Something bytes can be written to synchronously. */
export interface ByteWriterSync {
  writeSync(p: Uint8Array): number;
}

/** A reader with its own way to read an attachment (see `launch/bulk_socket.ts`). */
export interface AttachmentReader extends ByteReader {
  /** Reads the next `size` bytes into a buffer of their own. */
  fill(size: number): Promise<Uint8Array>;
  /**
   * A buffer for the next `size` bytes at once, read into it afterwards (a
   * process that passes attachments on, `os/fresh_read.ts`); later reads
   * wait for it.
   */
  behind?(size: number): Uint8Array;
}

/**
 * Attachments marked to be pulled from the sender's memory instead of sent
 * (see `protocol/attachments.ts`), by their index among a frame's
 * attachments.
 */
export type Marks = Map<number, PullMark>;

/**
 * What the reader needs to find a marked attachment, and put it right. The
 * mark itself is never in the frame, so no copy of it lies in the sender's
 * memory besides the one on the attachment: the frame has it masked, and
 * the mask.
 */
export interface PullMark {
  /** The attachment's offset in its `ArrayBuffer`. */
  offset: number;
  /** The mark (the random bytes over its first {@linkcode MARK}) XOR `key`. */
  masked: Uint8Array;
  /** The mask. */
  key: Uint8Array;
  /** Its first {@linkcode MARK} bytes, before the mark. */
  saved: Uint8Array;
  /** Its last {@linkcode MARK} bytes: a place the mark is on is checked. */
  tail: Uint8Array;
}

/** The fields of a {@linkcode PullMark} that are bytes, in the frame's order. */
export const MARK_FIELDS = ["masked", "key", "saved", "tail"] as const;

/** How many bytes a mark covers. */
export const MARK = 32;

/**
 * A bulk socket's reader that can pull marked attachments from the sender's
 * memory.
 */
export interface PullReader extends AttachmentReader {
  /**
   * Finds the marked attachments in the sender's memory, at once; then tells
   * the sender, one byte per mark in order, which were found (1) and which
   * it must send after all (0); then reads those found. Every mark is
   * answered, whatever happens.
   *
   * @param marks The frame's marks.
   * @param sizes Each attachment's size, by index.
   * @returns The attachments read, by index; `undefined` for those that
   * come on the socket.
   */
  find(
    marks: Marks,
    sizes: number[],
  ): Promise<Map<number, Uint8Array | undefined>>;
}

const CLOSED = "Job runtime channel closed in the middle of a message";

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

/**
 * Reads from `conn` into `bytes[from, to)`, however many reads it takes.
 *
 * @throws {Error} When the stream ends first (the runtime died).
 */
export async function readInto(
  conn: ByteReader,
  bytes: Uint8Array,
  from = 0,
  to: number = bytes.byteLength,
): Promise<void> {
  while (from < to) {
    const n = await conn.read(bytes.subarray(from, to));
    if (n === null) throw new Error(CLOSED);
    from += n;
  }
}

/**
 * Fills `bytes` from `conn`, or finds the stream ended before its first byte.
 *
 * @returns `false` when the stream had ended.
 * @throws {Error} When the stream ends after some of the bytes.
 */
export async function readOrEnd(
  conn: ByteReader,
  bytes: Uint8Array,
): Promise<boolean> {
  const n = await conn.read(bytes);
  if (n === null) return false;
  await readInto(conn, bytes, n);
  return true;
}

/**
 * Reads an attachment of `size` bytes from `conn` straight into a buffer of
 * its own (the decoder makes it the value's `ArrayBuffer`, uncopied); with
 * `behind`, returns before it is read where `conn` can.
 *
 * @throws {Error} When the stream ends first (the runtime died).
 */
export async function readAttachment(
  conn: ByteReader | AttachmentReader,
  size: number,
  behind = false,
): Promise<Uint8Array> {
  if (behind && "behind" in conn && conn.behind) return conn.behind(size);
  if ("fill" in conn) return await conn.fill(size);
  const bytes = new Uint8Array(size);
  await readInto(conn, bytes);
  return bytes;
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

/**
 * One array of all of `parts`, in order.
 *
 * @param parts Byte arrays.
 * @returns Their bytes together (the part itself when there is one).
 */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const whole = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    whole.set(part, at);
    at += part.byteLength;
  }
  return whole;
}

/**
 * A reader of `bytes`, at most `step` of them per read.
 *
 * @param bytes What it reads.
 * @param step The most one read gives.
 * @returns The reader.
 */
export function bytesReader(bytes: Uint8Array, step = Infinity): ByteReader {
  let at = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (at >= bytes.byteLength) return Promise.resolve(null);
      const n = Math.min(p.byteLength, step, bytes.byteLength - at);
      p.set(bytes.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}
