// A big table travels in chunks of rows. Taken apart in one piece, 200,000
// records make columns of 200,000 values and a serialized body of ~9 MB,
// all fresh memory, which costs more than the copying itself (its pages
// fault in one by one); chunk by chunk the sender reuses the same few
// hundred KB. The frame serializes one chunk at a time as it writes them
// (`protocol/frames.ts`), and the reader rebuilds each chunk's rows as it
// arrives, so the receiver builds rows while the sender still serializes.
import { type Columns, fromColumns, toColumns } from "./columns.ts";

/** Rows per chunk: a chunk of `{ url, title, n }` serializes to ~400 KB. */
export const TABLE_CHUNK = 8192;

/** A chunk as it travels: its columns, and the table's keys in the first. */
export interface TableChunk {
  keys?: string[];
  cols: (Float64Array | unknown[])[];
  n: number;
}

/** A big table taken apart into chunks of columns, ready to be written. */
export class TableChunks {
  constructor(
    readonly keys: string[],
    readonly chunks: Omit<TableChunk, "keys">[],
    readonly n: number,
    /** No row is in the table twice (a numeric column only rises or falls). */
    readonly distinct: boolean,
  ) {}

  /** The chunks as they travel, the keys with the first. */
  *travel(): Generator<TableChunk> {
    let first = true;
    for (const chunk of this.chunks) {
      yield first ? { keys: this.keys, ...chunk } : chunk;
      first = false;
    }
  }
}

/**
 * Takes `rows` apart into chunks of columns; `undefined` when they are not
 * all flat records with the same keys holding primitives only (a table
 * holding objects is sent in one piece: its objects are encoded as values).
 */
export function takeApart(rows: unknown[]): TableChunks | undefined {
  let keys: string[] | undefined;
  const chunks: Omit<TableChunk, "keys">[] = [];
  for (let at = 0; at < rows.length; at += TABLE_CHUNK) {
    const columns = toColumns(rows.slice(at, at + TABLE_CHUNK));
    if (!columns || columns.nested.some(Boolean)) return undefined;
    if (!keys) keys = columns.keys;
    else if (!sameKeys(keys, columns.keys)) return undefined;
    chunks.push({ cols: columns.cols, n: columns.n });
  }
  if (!keys) return undefined;
  return new TableChunks(keys, chunks, rows.length, monotonic(chunks));
}

function sameKeys(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((key, i) => key === b[i]);
}

/** Whether a column of numbers in every chunk only rises or only falls. */
function monotonic(chunks: Omit<TableChunk, "keys">[]): boolean {
  const width = chunks[0].cols.length;
  for (let c = 0; c < width; c++) {
    if (!chunks.every((chunk) => chunk.cols[c] instanceof Float64Array)) {
      continue;
    }
    let up = true;
    let down = true;
    let last = NaN;
    let first = true;
    for (const chunk of chunks) {
      const col = chunk.cols[c] as Float64Array;
      for (let i = 0; i < col.length && (up || down); i++) {
        const v = col[i];
        if (!first) {
          if (!(v > last)) up = false;
          if (!(v < last)) down = false;
        }
        first = false;
        last = v;
      }
    }
    if (up || down) return true;
  }
  return false;
}

/** Rebuilds a big table's rows chunk by chunk, as the chunks arrive. */
export class TableReceiver {
  readonly rows: unknown[] = [];
  #keys: string[] | undefined;

  /**
   * Adds a chunk's rows.
   *
   * @throws {TypeError} When the chunk is not one a table's sender makes.
   */
  add(chunk: unknown): void {
    const { keys, cols, n } = (chunk ?? {}) as Partial<TableChunk>;
    if (this.#keys === undefined) this.#keys = keys;
    if (
      !Array.isArray(cols) || typeof n !== "number" || !(n >= 0) ||
      this.#keys === undefined
    ) throw new TypeError("A table's chunk is not columns of rows");
    if (cols.some((col) => !(col?.length >= n))) {
      throw new TypeError("A table's columns are shorter than its rows");
    }
    fromColumns({ keys: this.#keys, cols, n }, this.rows);
  }
}

/** Rebuilds the rows of chunks that never travelled (decoded where made). */
export function rowsOf(table: TableChunks): unknown[] {
  const receiver = new TableReceiver();
  for (const chunk of table.travel()) receiver.add(chunk);
  return receiver.rows;
}

export type { Columns };
