// Encoding of typed data: arrays of records as tables, buffers and views
// (big ones as raw attachments), Maps and Sets, and errors with their cause
// and own properties.
import { type Extracted, toColumns } from "./columns.ts";
import { CHUNKED_MIN, type TableChunks, takeApart } from "./table_chunks.ts";
import { Placeholder, SUB, TableToken } from "./packet.ts";
import { builtinRefusal } from "./refusals.ts";
import { type Encoder, keep, refuse, substitute } from "./encoder.ts";

/** Buffers at least this big travel as raw attachments. */
const RAW_MIN = 64 * 1024;
const ERROR_TYPES = [
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
  AggregateError,
  Error,
];

type ViewConstructor = new (b: ArrayBuffer, o: number, n: number) => object;

/**
 * Sends an array of flat records as columns; `undefined` when it is not
 * one, or one of its rows is also elsewhere in what was sent so far (or
 * twice in it).
 *
 * Its rows are not remembered one by one (hashing 200,000 objects costs
 * more than taking them apart): a plain object met later with the table's
 * keys is looked up among its rows then ({@linkcode tableRow}).
 */
export function encodeTable(
  enc: Encoder,
  rows: unknown[],
): Placeholder | undefined {
  // A big table of primitives travels in chunks (taken apart as they are
  // written, when what is sent need not be a snapshot); one holding
  // objects, and a small one, in one piece.
  const { snapshot, chunked } = enc.options;
  let columns: Extracted | TableChunks | undefined =
    rows.length > CHUNKED_MIN && chunked !== false
      ? takeApart(rows, snapshot === false)
      : undefined;
  columns ??= toColumns(rows);
  if (!columns) return undefined;
  // Nothing met yet (a job's result that is the table): no lookups.
  if (enc.memo.size > 0) {
    for (let i = 0; i < rows.length; i++) {
      if (enc.memo.has(rows[i])) return undefined;
    }
  }
  if (!columns.distinct && new Set(rows).size !== rows.length) return undefined;
  const { keys } = columns;
  for (const earlier of enc.tables) {
    if (
      sameKeys(earlier.keys, keys) && rows.some((r) => earlier.indexOf(r) >= 0)
    ) {
      return undefined;
    }
  }
  const token = new TableToken(rows, keys);
  if (!("cols" in columns)) {
    const part = enc.raw.push(columns) - 1;
    token.ph = substitute(enc, rows, SUB.table, { keys, n: rows.length, part });
    enc.tables.push(token);
    return token.ph;
  }
  // Values in columns must not need putting back after the rows are
  // rebuilt: objects in them hold primitives only, and are not rows of
  // this table or of another.
  const flat = (v: unknown): boolean => isFlat(enc, v, token);
  for (let c = 0; c < columns.cols.length; c++) {
    if (columns.nested[c] && !(columns.cols[c] as unknown[]).every(flat)) {
      return undefined;
    }
  }
  for (let c = 0; c < columns.cols.length; c++) {
    const col = columns.cols[c];
    if (col instanceof Float64Array) {
      columns.cols[c] = encodeView(enc, col, true) as Float64Array;
    } else if (columns.nested[c]) {
      enc.path.push({ m: `[…].${keys[c]}` });
      columns.cols[c] = enc.walk.array(
        enc,
        col as unknown[],
        false,
      ) as unknown[];
      enc.path.pop();
    }
  }
  const { cols, n } = columns;
  token.ph = substitute(enc, rows, SUB.table, { keys, cols, n });
  enc.tables.push(token);
  return token.ph;
}

/**
 * A row of a table sent before, met again: a placeholder the decoder points
 * at the rebuilt row; `undefined` when `v` is no such row.
 */
export function tableRow(enc: Encoder, v: object): Placeholder | undefined {
  for (const token of enc.tables) {
    if (!hasKeys(v, token.keys)) continue;
    const index = token.indexOf(v);
    if (index >= 0) {
      return substitute(enc, v, SUB.row, [token.ph, index]);
    }
  }
  return undefined;
}

/** Whether `v` is a row of a table sent before, or of `token`. */
function isRow(enc: Encoder, v: object, token?: TableToken): boolean {
  for (const t of token ? [...enc.tables, token] : enc.tables) {
    if (hasKeys(v, t.keys) && t.indexOf(v) >= 0) return true;
  }
  return false;
}

/** Whether `v`'s enumerable keys are `keys`, in order. */
function hasKeys(v: object, keys: string[]): boolean {
  let n = 0;
  for (const key in v) {
    if (n >= keys.length || key !== keys[n]) return false;
    n++;
  }
  return n === keys.length;
}

function sameKeys(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((key, i) => key === b[i]);
}

/** A plain object or array of primitives, not a row of a table. */
function isFlat(enc: Encoder, v: unknown, token: TableToken): boolean {
  if (typeof v !== "object" || v === null) return true;
  const proto = Object.getPrototypeOf(v);
  if (proto === Array.prototype) {
    const list = v as unknown[];
    for (let i = 0; i < list.length; i++) {
      if (!isPrimitive(list[i])) return false;
    }
    return true;
  }
  if (proto !== Object.prototype) return false;
  if (isRow(enc, v, token)) return false;
  for (const key in v) {
    if (!isPrimitive((v as Record<string, unknown>)[key])) return false;
  }
  return true;
}

function isPrimitive(x: unknown): boolean {
  return typeof x === "object"
    ? x === null
    : typeof x !== "function" && typeof x !== "symbol";
}

/** Whether `v` is a row of a table sent so far (it is sent as one). */
export function isTableRow(enc: Encoder, v: unknown): boolean {
  return enc.tables.length > 0 && typeof v === "object" && v !== null &&
    Object.getPrototypeOf(v) === Object.prototype && isRow(enc, v);
}

/** An ArrayBuffer: copied when small, a raw attachment when big. */
export function encodeBuffer(enc: Encoder, v: ArrayBuffer): unknown {
  if (v.byteLength < RAW_MIN) return keep(enc, v, v.slice(0));
  return substitute(enc, v, SUB.buffer, rawIndex(enc, v, false));
}

/** A typed array or DataView; `fresh` when the encoder made it. */
export function encodeView(
  enc: Encoder,
  v: ArrayBufferView,
  fresh: boolean,
): unknown {
  const buffer = v.buffer;
  if (buffer instanceof SharedArrayBuffer) {
    refuse(enc, builtinRefusal(SharedArrayBuffer.prototype, enc.options.to)!);
  }
  const type = (v as unknown as { [Symbol.toStringTag]?: string })[
    Symbol.toStringTag
  ] ?? "DataView";
  const length = type === "DataView"
    ? v.byteLength
    : (v as unknown as { length: number }).length;
  if (buffer.byteLength < RAW_MIN) {
    // Small: copy the buffer once, so views that share it still do.
    let copy = enc.memo.get(buffer) as ArrayBuffer | undefined;
    if (!copy) copy = keep(enc, buffer, buffer.slice(0));
    const View = (globalThis as unknown as Record<string, ViewConstructor>)[
      type
    ];
    return keep(enc, v, new View(copy, v.byteOffset, length));
  }
  const raw = rawIndex(enc, buffer, fresh);
  return substitute(enc, v, SUB.view, [raw, type, v.byteOffset, length]);
}

function rawIndex(
  enc: Encoder,
  buffer: ArrayBufferLike,
  fresh: boolean,
): number {
  let index = enc.rawOf.get(buffer);
  if (index === undefined) {
    const bytes = new Uint8Array(buffer);
    const copy = !fresh && enc.options.snapshot !== false;
    index = enc.raw.push(copy ? bytes.slice() : bytes) - 1;
    enc.rawOf.set(buffer, index);
  }
  return index;
}

/**
 * An error: a builtin error of the same type with its message, stack and
 * `cause`; its own properties put back after; its class restored when it
 * can be sent.
 */
export function encodeError(enc: Encoder, v: Error, proto: object): Error {
  const Base = ERROR_TYPES.find((E) => v instanceof E)!;
  const message = typeof v.message === "string" ? v.message : "";
  const out = keep(
    enc,
    v,
    Base === AggregateError
      ? new AggregateError([], message)
      : new (Base as ErrorConstructor)(message),
  );
  if (typeof v.stack === "string") out.stack = v.stack;
  if (Object.hasOwn(v, "cause")) {
    out.cause = enc.walk.child(enc, v.cause, "cause");
    if (out.cause instanceof Placeholder) enc.sites.push(out, "cause");
  }
  const extra: Record<string, unknown> = {};
  let hasExtra = false;
  for (const key of Object.keys(v)) {
    if (key === "message" || key === "stack" || key === "cause") continue;
    extra[key] = v[key as keyof Error];
    hasExtra = true;
  }
  if (v.name !== Base.prototype.name && !Object.hasOwn(extra, "name")) {
    extra.name = v.name;
    hasExtra = true;
  }
  if (Base === AggregateError) {
    extra.errors = (v as AggregateError).errors;
    hasExtra = true;
  }
  if (hasExtra) enc.extras.push(out, enc.walk.plain(enc, extra, {}));
  if (proto !== Base.prototype) {
    const record = enc.walk.classRecord(enc, proto);
    if (typeof record === "number") enc.protos.push(out, record);
  }
  return out;
}

/** Copies a Map; one holding placeholders is rebuilt when decoded. */
export function encodeMap(
  enc: Encoder,
  v: Map<unknown, unknown>,
): Map<unknown, unknown> {
  const out = keep(enc, v, new Map());
  let special = false;
  for (const [k, x] of v) {
    const k2 = enc.walk.child(enc, k, { m: ".keys()[…]" });
    const label = typeof k === "object" || typeof k === "function"
      ? "(…)"
      : `(${typeof k === "bigint" ? `${k}n` : JSON.stringify(k)})`;
    const x2 = enc.walk.child(enc, x, { m: `.get${label}` });
    out.set(k2, x2);
    special ||= k2 instanceof Placeholder || x2 instanceof Placeholder;
  }
  if (special) enc.rebuilds.push(out);
  return out;
}

/** Copies a Set; one holding placeholders is rebuilt when decoded. */
export function encodeSet(enc: Encoder, v: Set<unknown>): Set<unknown> {
  const out = keep(enc, v, new Set());
  let special = false;
  for (const x of v) {
    const x2 = enc.walk.child(enc, x, { m: ".values()[…]" });
    out.add(x2);
    special ||= x2 instanceof Placeholder;
  }
  if (special) enc.rebuilds.push(out);
  return out;
}
