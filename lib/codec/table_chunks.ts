// A big table travels in chunks of rows. Taken apart in one piece, 200,000
// records make columns of 200,000 values and a serialized body of ~9 MB,
// all fresh memory, which costs more than the copying itself (its pages
// fault in one by one); chunk by chunk the sender reuses the same ~100 KB.
// The frame turns one chunk at a time into bytes as it writes them
// (`protocol/frames.ts`), and the reader rebuilds each chunk's rows as it
// arrives, so the receiver builds rows while the sender still serializes
// (and, for a job's result, takes apart) the next.
import {
  type Columns,
  type Extracted,
  fromColumns,
  rowCheck,
  toColumns,
} from "./columns.ts";

/**
 * Rows per chunk: 1,024 `{ url, title, n }` make ~60 KB of bytes, three to a
 * Unix socket's default send buffer (208 KiB), so the sender writes while
 * the receiver rebuilds, and a pause on one side (a scavenge) stalls the
 * other less. 200,000 rows in a kernel, A/B in four bench runs each: 1,024
 * rows, medians 177-194 ms and p90s 242-294; 2,048 rows, 176-206 and
 * 295-319; 512 rows, 215-216 (and earlier 8,192 rows, 470 KB a chunk, each
 * side waiting for the other: 209-235 against 174-203 for 2,048).
 */
export const TABLE_CHUNK = 1024;

/**
 * Tables longer than this travel in chunks; a shorter one in one piece,
 * less work than taking it apart in two (a capture of ten lists of 1,200
 * rows measured 9.4 ms in one piece and 11.1 ms in chunks, in single runs).
 */
export const CHUNKED_MIN = 2048;

/**
 * A column of strings as it travels: joined into one string, with each
 * one's length. Serializing and reading one string instead of 8,192 costs a
 * third of the time, and the rows are made of slices of it.
 */
export interface Joined {
  j: string;
  l: Uint32Array;
}

/** A column as it travels. */
export type Column = Float64Array | unknown[] | Joined;

/**
 * A chunk as it travels: its columns, and in the first the table's keys and
 * how many rows it has in all.
 */
export interface TableChunk {
  keys?: string[];
  total?: number;
  cols: Column[];
  n: number;
}

/** Columns of some rows of a table. */
type Chunk = Omit<TableChunk, "keys" | "total">;

/**
 * Thrown while a table's chunks are taken, when its rows are no longer what
 * they were when it was first looked at (the sender's code changed them
 * meanwhile, or they differ further on): the frame is dropped, and the
 * value sent again in one piece.
 */
export class TableChanged extends Error {
  override name = "TableChanged";
}

/**
 * A big table taken apart into chunks of columns, ready to be written:
 * all at once (a snapshot, when what is sent may change later), or chunk by
 * chunk as they are written (a job's result: the runtime takes the next
 * chunk apart while the kernel rebuilds the last).
 */
export class TableChunks {
  readonly keys: string[];
  readonly n: number;
  /**
   * No row is in the table twice: a numeric column only rises or falls (in
   * a table taken lazily, in its first chunk, and the rest is held to it).
   */
  readonly distinct: boolean;
  #rows: unknown[] | undefined;
  #chunks: Chunk[];
  #order: Order | undefined;
  #taker: Taker | undefined;
  #texts: string[][] | undefined;
  #scratch: Scratch | undefined;

  constructor(rows: unknown[], first: Extracted, lazy: boolean) {
    this.keys = first.keys;
    this.n = rows.length;
    this.#chunks = [chunkOf(first)];
    this.#rows = rows;
    this.#order = orderOf(first.cols);
    this.distinct = this.#order !== undefined;
    if (lazy) return;
    for (let at = TABLE_CHUNK; at < this.n; at += TABLE_CHUNK) {
      const chunk = this.#take(at);
      if (!chunk) throw new TableChanged("The table changed");
      this.#chunks.push(chunk);
    }
    this.#rows = undefined;
  }

  /**
   * The chunks as they travel, the keys with the first.
   *
   * @throws {TableChanged} When a chunk taken now does not fit the first.
   */
  *travel(): Generator<TableChunk> {
    yield { keys: this.keys, total: this.n, ...this.#chunks[0] };
    for (let i = 1; i < this.#chunks.length; i++) yield this.#chunks[i];
    if (!this.#rows) return;
    for (
      let at = this.#chunks.length * TABLE_CHUNK;
      at < this.n;
      at += TABLE_CHUNK
    ) {
      const chunk = this.#take(at, true);
      if (!chunk) throw new TableChanged("The table changed while it was sent");
      yield chunk;
    }
  }

  /**
   * The chunk from row `at`, or `undefined` when it does not fit the first.
   * `passing`: the chunk is used before the next is taken (it is written, or
   * rebuilt), so its typed columns can be the same arrays each time: fresh
   * ones, 16 KB a chunk of `{ url, title, n }`, cost their pages' faults.
   */
  #take(at: number, passing = false): Chunk | undefined {
    const count = Math.min(TABLE_CHUNK, this.n - at);
    // Most tables hold in every chunk what the first held, column by
    // column: a loop made for that takes a chunk in one pass, into typed
    // arrays and the strings' arrays reused; any other row falls back.
    this.#taker ??= takerFor(this.keys, this.#chunks[0].cols);
    this.#texts ??= this.keys.map(() => []);
    let scratch: Scratch | undefined;
    if (passing && count === TABLE_CHUNK) {
      scratch = this.#scratch ??= this.#chunks[0].cols.map((col) =>
        col instanceof Float64Array
          ? new Float64Array(TABLE_CHUNK)
          : new Uint32Array(TABLE_CHUNK)
      );
    }
    const cols = this.#taker(
      this.#rows!,
      at,
      count,
      Object.prototype,
      this.#texts,
      scratch,
    );
    if (cols) {
      return !this.#order || this.#order.holds(cols)
        ? { cols, n: count }
        : undefined;
    }
    const rows = this.#rows!.slice(at, at + count);
    const columns = rows.length === count ? toColumns(rows) : undefined;
    if (
      !columns || columns.nested.some(Boolean) ||
      !sameKeys(this.keys, columns.keys) ||
      (this.#order && !this.#order.holds(columns.cols))
    ) return undefined;
    return chunkOf(columns);
  }
}

/**
 * Typed arrays of a chunk's length, one per column, for a taker to fill
 * instead of new ones: numbers for a column of numbers, lengths for one of
 * strings (others leave theirs unused).
 */
type Scratch = (Float64Array | Uint32Array)[];

/**
 * Takes the columns of `count` rows from `at`, of the kinds a first chunk's
 * columns had; `undefined` when a row has other keys or another kind of
 * value. `texts` holds an array per column, reused for strings; `scratch`,
 * when given, the typed arrays to fill.
 */
type Taker = (
  rows: unknown[],
  at: number,
  count: number,
  proto: object,
  texts: string[][],
  scratch: Scratch | undefined,
) => Column[] | undefined;

const takers = new Map<string, Taker>();

function takerFor(keys: string[], first: Column[]): Taker {
  const kinds = first.map((col) =>
    col instanceof Float64Array ? "f" : Array.isArray(col) ? "p" : "s"
  );
  const signature = JSON.stringify([keys, kinds]);
  let taker = takers.get(signature);
  if (!taker) takers.set(signature, taker = makeTaker(keys, kinds));
  return taker;
}

// Numbers ("f") go to a Float64Array, strings ("s") to a reused array
// joined at the end, with their lengths; other primitives ("p") to an array.
function makeTaker(keys: string[], kinds: string[]): Taker {
  const lines = [
    `const KEYS = ${JSON.stringify(keys)};`,
    ...kinds.map((kind, i) =>
      kind === "f"
        ? `const c${i} = scratch ? scratch[${i}] : new Float64Array(count);`
        : kind === "s"
        ? `const t${i} = texts[${i}]; if (t${i}.length > count) t${i}.length = count; const l${i} = scratch ? scratch[${i}] : new Uint32Array(count);`
        : `const c${i} = [];`
    ),
    "for (let i = 0; i < count; i++) {",
    "  const r = rows[at + i];",
    ...rowCheck(keys.length, "undefined"),
  ];
  kinds.forEach((kind, i) => {
    const v = `v${i}`;
    lines.push(`  const ${v} = r[${JSON.stringify(keys[i])}];`);
    if (kind === "f") {
      lines.push(`  if (typeof ${v} !== 'number') return undefined;`);
      lines.push(`  c${i}[i] = ${v};`);
    } else if (kind === "s") {
      lines.push(`  if (typeof ${v} !== 'string') return undefined;`);
      lines.push(`  t${i}[i] = ${v}; l${i}[i] = ${v}.length;`);
    } else {
      lines.push(
        `  if ((typeof ${v} === 'object' && ${v} !== null) || typeof ${v} === 'function' || typeof ${v} === 'symbol') return undefined;`,
      );
      lines.push(`  c${i}.push(${v});`);
    }
  });
  const cols = kinds.map((kind, i) =>
    kind === "s" ? `{ j: t${i}.join(""), l: l${i} }` : `c${i}`
  );
  lines.push("}", `return [${cols.join(", ")}];`);
  return new Function(
    "rows",
    "at",
    "count",
    "proto",
    "texts",
    "scratch",
    lines.join("\n"),
  ) as Taker;
}

/** A chunk's columns as they travel: strings joined. */
function chunkOf(columns: Extracted): Chunk {
  const cols = columns.cols.map((col, c) =>
    columns.strings[c] ? join(col as string[]) : col
  );
  return { cols, n: columns.n };
}

function join(strings: string[]): Joined {
  const l = new Uint32Array(strings.length);
  for (let i = 0; i < strings.length; i++) l[i] = strings[i].length;
  return { j: strings.join(""), l };
}

/** A joined column's strings again: slices of the one string. */
function split(col: Joined, n: number): string[] {
  const { j, l } = col;
  if (typeof j !== "string" || !(l instanceof Uint32Array) || l.length < n) {
    throw new TypeError("A table's joined column is not strings");
  }
  const out = new Array<string>(n);
  let at = 0;
  for (let i = 0; i < n; i++) out[i] = j.slice(at, at += l[i]);
  if (at !== j.length) throw new TypeError("A table's joined column is cut");
  return out;
}

/**
 * Takes `rows` apart into chunks of columns, all at once or (`lazy`) the
 * first now and the others as they are written; `undefined` when the first
 * chunk (all of them, unless lazy) is not flat records with the same keys
 * holding primitives only (a table holding objects is sent in one piece:
 * its objects are encoded as values).
 */
export function takeApart(
  rows: unknown[],
  lazy: boolean,
): TableChunks | undefined {
  const first = toColumns(rows.slice(0, TABLE_CHUNK));
  if (!first || first.nested.some(Boolean)) return undefined;
  try {
    return new TableChunks(rows, first, lazy);
  } catch (error) {
    if (error instanceof TableChanged) return undefined;
    throw error;
  }
}

function sameKeys(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((key, i) => key === b[i]);
}

/** A numeric column that rises (or falls) row after row, across chunks. */
interface Order {
  holds(cols: Column[]): boolean;
}

/** The first numeric column of a chunk that only rises or only falls. */
function orderOf(cols: Column[]): Order | undefined {
  for (let c = 0; c < cols.length; c++) {
    const col = cols[c];
    if (!(col instanceof Float64Array) || col.length < 2) continue;
    const sign = Math.sign(col[1] - col[0]);
    if (sign === 0 || !steps(col, sign, col[0], 1)) continue;
    let last = col[col.length - 1];
    return {
      holds(next): boolean {
        const values = next[c];
        if (!(values instanceof Float64Array)) return false;
        if (!steps(values, sign, last, 0)) return false;
        last = values[values.length - 1];
        return true;
      },
    };
  }
  return undefined;
}

/** Whether `col` from `from` on keeps moving the way `sign` says from `last`. */
function steps(
  col: Float64Array,
  sign: number,
  last: number,
  from: number,
): boolean {
  for (let i = from; i < col.length; i++) {
    const v = col[i];
    if (sign > 0 ? !(v > last) : !(v < last)) return false;
    last = v;
  }
  return true;
}

/**
 * The most rows a receiver makes room for at once, from what the first chunk
 * says (beyond it, rows are added one by one): a sender's word alone is
 * trusted with 32 MB at most.
 */
const ROOM_MAX = 1 << 22;

/**
 * Rebuilds a big table's rows chunk by chunk, as the chunks arrive, into an
 * array made the table's length at once (growing one row at a time copies
 * it again and again, into fresh memory).
 */
export class TableReceiver {
  #rows: unknown[] = [];
  #count = 0;
  #keys: string[] | undefined;

  /** The rows so far. */
  get rows(): unknown[] {
    // Room made for rows that did not come (a sender's miscount) is cut.
    if (this.#rows.length > this.#count) this.#rows.length = this.#count;
    return this.#rows;
  }

  /**
   * Adds a chunk's rows.
   *
   * @throws {TypeError} When the chunk is not one a table's sender makes.
   */
  add(chunk: unknown): void {
    const { keys, total, cols, n } = (chunk ?? {}) as Partial<TableChunk>;
    if (this.#keys === undefined) {
      this.#keys = keys;
      // No rows yet: a chunk without keys is refused before any is added.
      if (Number.isInteger(total) && total! > 0 && total! <= ROOM_MAX) {
        this.#rows = new Array(total);
      }
    }
    if (
      !Array.isArray(cols) || typeof n !== "number" || !(n >= 0) ||
      this.#keys === undefined
    ) throw new TypeError("A table's chunk is not columns of rows");
    const arrays = cols.map((col) =>
      col instanceof Float64Array || Array.isArray(col)
        ? col
        : split(col as Joined, n)
    );
    if (arrays.some((col) => !(col?.length >= n))) {
      throw new TypeError("A table's columns are shorter than its rows");
    }
    fromColumns({ keys: this.#keys, cols: arrays, n }, this.#rows, this.#count);
    this.#count += n;
  }
}

/** Rebuilds the rows of chunks that never travelled (decoded where made). */
export function rowsOf(table: TableChunks): unknown[] {
  const receiver = new TableReceiver();
  for (const chunk of table.travel()) receiver.add(chunk);
  return receiver.rows;
}

export type { Columns };
