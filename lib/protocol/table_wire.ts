// A big table's chunk as bytes, the pieces of a frame's chunked part
// (`frames.ts`): numbers as their raw Float64Array bytes and a column of
// strings as its lengths and its joined text in UTF-8, laid out behind a
// small head; V8's serializer only for the rest (a column of mixed
// primitives, the keys). The serializer makes a new buffer for every chunk
// and grows it as it writes, and a buffer's fresh pages cost more than the
// copying itself (on a VM, ~11 µs a page touched for the first time): a
// writer here fills two buffers in turn, and a reader decodes in place.
import { serializer } from "./serializer.ts";
import type { Column, Joined, TableChunk } from "../codec/table_chunks.ts";

// Column kinds in the head.
const F64 = 1;
const TEXT = 2;
const VALUE = 3;

// The head: rows, columns, bytes of the serialized keys (0: none), the
// table's rows in all (in the first chunk, else 0), then per column its
// kind, its count (values or lengths) and its bytes.
const HEAD = 4;
const PER_COLUMN = 3;

const align = (n: number) => (n + 7) & ~7;
const encoder = new TextEncoder();
// `ignoreBOM`: a text that starts with U+FEFF keeps it.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** What one column becomes: its kind, count, and what is written. */
type Planned =
  | { kind: typeof F64; count: number; bytes: Uint8Array }
  | { kind: typeof TEXT; count: number; lengths: Uint32Array; text: string }
  | { kind: typeof VALUE; count: number; bytes: Uint8Array };

function plan(col: Column): Planned {
  if (col instanceof Float64Array) {
    const bytes = new Uint8Array(col.buffer, col.byteOffset, col.byteLength);
    return { kind: F64, count: col.length, bytes };
  }
  const joined = col as Partial<Joined>;
  // A lone surrogate has no UTF-8: such a text goes through the serializer.
  if (
    !Array.isArray(col) && typeof joined.j === "string" &&
    joined.l instanceof Uint32Array && joined.j.isWellFormed()
  ) {
    return {
      kind: TEXT,
      count: joined.l.length,
      lengths: joined.l,
      text: joined.j,
    };
  }
  const bytes = serializer.serialize(col);
  return { kind: VALUE, count: 0, bytes };
}

/**
 * Turns a table's chunks into bytes. One that `reuses` fills two buffers in
 * turn, so a chunk's bytes stay valid until the next but one is made: for a
 * writer that writes each chunk before it makes the one after the next.
 */
export class ChunkWriter {
  readonly #reuse: boolean;
  readonly #buffers: Uint8Array[] = [new Uint8Array(0), new Uint8Array(0)];
  #turn = 0;

  constructor(reuse: boolean) {
    this.#reuse = reuse;
  }

  /**
   * The chunk's bytes, behind `lead` bytes left for the caller (a length
   * word: one write for both).
   */
  bytes(chunk: TableChunk, lead = 0): Uint8Array {
    const cols = chunk.cols.map(plan);
    const keys = chunk.keys ? serializer.serialize(chunk.keys) : undefined;
    let size = align(4 * (HEAD + PER_COLUMN * cols.length)) +
      align(keys?.byteLength ?? 0);
    for (const col of cols) {
      size += col.kind === TEXT
        ? align(4 * col.count) + align(3 * col.text.length)
        : align(col.bytes.byteLength);
    }
    const out = this.#buffer(lead + size);
    const head = new DataView(out.buffer, out.byteOffset + lead);
    const put = (i: number, value: number) =>
      head.setUint32(4 * i, value, true);
    put(0, chunk.n);
    put(1, cols.length);
    put(2, keys?.byteLength ?? 0);
    put(3, chunk.total ?? 0);
    // Offsets from the buffer's start (its own: offset 0), 4-aligned.
    let at = lead + align(4 * (HEAD + PER_COLUMN * cols.length));
    if (keys) {
      out.set(keys, at);
      at += align(keys.byteLength);
    }
    cols.forEach((col, c) => {
      const h = HEAD + PER_COLUMN * c;
      put(h, col.kind);
      put(h + 1, col.count);
      if (col.kind === TEXT) {
        new Uint32Array(out.buffer, at, col.count).set(col.lengths);
        at += align(4 * col.count);
        const { written } = encoder.encodeInto(col.text, out.subarray(at));
        put(h + 2, written);
        at += align(written);
      } else {
        put(h + 2, col.bytes.byteLength);
        out.set(col.bytes, at);
        at += align(col.bytes.byteLength);
      }
    });
    return out.subarray(0, at);
  }

  #buffer(size: number): Uint8Array {
    if (!this.#reuse) return new Uint8Array(size);
    const turn = this.#turn;
    this.#turn ^= 1;
    if (this.#buffers[turn].byteLength < size) {
      // With room to spare: the next chunks are about as big.
      this.#buffers[turn] = new Uint8Array(Math.max(size * 1.25, 1 << 16));
    }
    return this.#buffers[turn];
  }
}

/**
 * A chunk again from its bytes. Its numbers and lengths are views of
 * `bytes` (copied when not aligned): use them before `bytes` is reused.
 *
 * @throws {TypeError} When the bytes are not a chunk.
 */
export function readChunk(bytes: Uint8Array): TableChunk {
  const cut = () => new TypeError("A table's chunk is cut or malformed");
  if (bytes.byteLength < 4 * HEAD) throw cut();
  const head = new DataView(bytes.buffer, bytes.byteOffset);
  const word = (i: number) => head.getUint32(4 * i, true);
  const n = word(0);
  const count = word(1);
  const end = 4 * (HEAD + PER_COLUMN * count);
  if (end > bytes.byteLength) throw cut();
  let at = align(end);
  const take = (length: number): Uint8Array => {
    if (at + length > bytes.byteLength) throw cut();
    const part = bytes.subarray(at, at + length);
    at += align(length);
    return part;
  };
  const keysBytes = word(2);
  const keys = keysBytes
    ? serializer.deserialize(take(keysBytes)) as string[]
    : undefined;
  const cols: Column[] = [];
  for (let c = 0; c < count; c++) {
    const h = HEAD + PER_COLUMN * c;
    const [kind, values, length] = [word(h), word(h + 1), word(h + 2)];
    if (kind === F64) {
      if (length !== 8 * values) throw cut();
      cols.push(view(Float64Array, take(length), values));
    } else if (kind === TEXT) {
      const l = view(Uint32Array, take(4 * values), values);
      cols.push({ j: decoder.decode(take(length)), l });
    } else if (kind === VALUE) {
      cols.push(serializer.deserialize(take(length)) as Column);
    } else throw cut();
  }
  const total = word(3);
  return keys ? { keys, total, cols, n } : { cols, n };
}

function view<T extends Float64Array | Uint32Array>(
  Type: {
    new (b: ArrayBuffer, at: number, n: number): T;
    BYTES_PER_ELEMENT: number;
  },
  part: Uint8Array,
  n: number,
): T {
  const aligned = part.byteOffset % Type.BYTES_PER_ELEMENT === 0
    ? part
    : part.slice();
  return new Type(aligned.buffer as ArrayBuffer, aligned.byteOffset, n);
}
