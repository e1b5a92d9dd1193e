/**
 * The codec for values crossing between the notebook and a job, both ways.
 *
 * Data is copied with structured-clone semantics (Map, Set, Date, RegExp,
 * BigInt, typed arrays, errors with `cause`, cycles, shared references).
 * Functions and classes travel as source, with the names they use; class
 * instances get their prototype back. The encoder makes a copy that
 * `node:v8` can serialize, with placeholders where something needs work on
 * the other side (a function, a big buffer, a table of records), and lists
 * where they are, so decoding needs no second walk. Big buffers travel as
 * raw frame attachments, never through the serializer.
 *
 * @module
 */
import { TABLE_MIN, toColumns } from "./_columns.ts";
import {
  builtinPath,
  builtinRefusal,
  type Direction,
  freeNameRefusal,
  functionRefusal,
  instanceRefusal,
  moduleRefusal,
  type Refusal,
} from "./_unsendable.ts";
import { Placeholder, SUB, TableToken } from "./_packet.ts";
import type { FunctionInfo, Packet, SourceRecord } from "./_packet.ts";

export type { FunctionInfo, Packet, SourceRecord } from "./_packet.ts";
export type { Direction } from "./_unsendable.ts";
export { type DecodeOptions, decodePacket } from "./_materialize.ts";

/** `resolve()` answer: the sender has no such name. */
export const MISSING: unique symbol = Symbol("bgjobs.missing") as never;
/** `resolve()` answer: the receiver has this name already; do not send it. */
export const GLOBAL: unique symbol = Symbol("bgjobs.global") as never;

/** How the encoder finds what functions refer to. */
export interface EncodeOptions {
  /** Which way the value goes (for the wording of refusals). */
  to: Direction;
  /** The sender's value of a name a function uses, `MISSING` or `GLOBAL`. */
  resolve(name: string): unknown;
  /** Free names and shape of a function's source. */
  analyze(source: string): FunctionInfo;
  /** Values a function closes over, that its free names mean first. */
  scope?(fn: unknown): ReadonlyMap<string, unknown> | undefined;
  /** The id the receiver knows a function by, when it came from there. */
  origin?(fn: unknown): { id: number; privates?: string[] } | undefined;
  /** Copy big buffers now, so later writes to them do not travel. @default {true} */
  snapshot?: boolean;
}

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
const NATIVE = /\{\s*\[native code\]\s*\}\s*$/;

function isPrimitive(x: unknown): boolean {
  return typeof x === "object"
    ? x === null
    : typeof x !== "function" && typeof x !== "symbol";
}

type ViewConstructor = new (b: ArrayBuffer, o: number, n: number) => object;

/**
 * Encodes named values, e.g. the notebook names a job uses.
 *
 * @param names Each name, `true` when only used as `typeof name`.
 * @param options Where names are looked up, and how functions are analyzed.
 * @returns The packet, and the functions sent as source by record index.
 * @throws {TypeError} Naming the variable and path of what cannot be sent.
 */
export function encodeNames(
  names: Map<string, boolean>,
  options: EncodeOptions,
): { packet: Packet; functions: unknown[] } {
  const encoder = new Encoder(options);
  for (const [name, typeofOnly] of names) {
    encoder.bind(name, typeofOnly, undefined);
  }
  return { packet: encoder.packet(undefined), functions: encoder.values };
}

/**
 * Encodes one value, e.g. a job's result.
 *
 * @param value The value.
 * @param label How refusals name it, e.g. `"result"`.
 * @param options Where names are looked up, and how functions are analyzed.
 * @returns The packet.
 * @throws {TypeError} Naming the path of what cannot be sent.
 */
export function encodeValue(
  value: unknown,
  label: string,
  options: EncodeOptions,
): Packet {
  const encoder = new Encoder(options);
  encoder.path.push(label);
  return encoder.packet(encoder.value(value));
}

class Encoder {
  readonly path: (string | number | { m: string })[] = [];
  readonly values: unknown[] = [];
  #memo = new Map<unknown, unknown>();
  #records: SourceRecord[] = [];
  #recordOf = new Map<unknown, number>();
  #infos: (FunctionInfo | undefined)[] = [];
  #ns = new Map<string, unknown>();
  #bound = new Set<string>();
  #boundValue = new Map<string, unknown>();
  #subs: unknown[] = [];
  #sites: unknown[] = [];
  #rebuilds: unknown[] = [];
  #protos: unknown[] = [];
  #extras: unknown[] = [];
  #raw: Uint8Array[] = [];
  #rawOf = new Map<ArrayBufferLike, number>();
  #via: string | undefined;

  constructor(readonly options: EncodeOptions) {}

  packet(v: unknown): Packet {
    const p: Packet = { v };
    if (this.#ns.size) p.ns = this.#ns;
    if (this.#records.length) p.fns = this.#records;
    if (this.#subs.length) p.subs = this.#subs;
    if (this.#sites.length) p.sites = this.#sites;
    if (this.#rebuilds.length) p.rebuilds = this.#rebuilds;
    if (this.#protos.length) p.protos = this.#protos;
    if (this.#extras.length) p.extras = this.#extras;
    if (this.#raw.length) p.raw = this.#raw;
    return p;
  }

  /** Adds a name the sent code uses, with its value, to the namespace. */
  bind(name: string, typeofOnly: boolean, usedBy: string | undefined): void {
    if (!this.#bound.has(name)) {
      this.#bindValue(name, this.options.resolve(name), typeofOnly, usedBy);
    }
  }

  #bindValue(
    name: string,
    value: unknown,
    typeofOnly: boolean,
    usedBy: string | undefined,
  ): void {
    if (value === GLOBAL || (value === MISSING && typeofOnly)) return;
    const path = this.path.splice(0);
    const via = this.#via;
    this.path.push(name);
    this.#via = usedBy;
    if (value === MISSING) {
      this.refuse(freeNameRefusal(name, undefined, this.options.to));
    }
    this.#bound.add(name);
    this.#boundValue.set(name, value);
    this.#ns.set(name, this.value(value));
    this.path.splice(0, Infinity, ...path);
    this.#via = via;
  }

  refuse(refusal: Refusal): never {
    const where = this.path.map((p, i) =>
      typeof p === "number"
        ? `[${p}]`
        : typeof p === "object"
        ? p.m
        : i === 0
        ? p
        : /^[A-Za-z_$][\w$]*$/.test(p)
        ? `.${p}`
        : `[${JSON.stringify(p)}]`
    ).join("");
    const via = this.#via ? ` (used by "${this.#via}")` : "";
    const to = this.options.to === "job" ? "a job" : "the notebook";
    throw new TypeError(
      `Cannot send "${where}"${via} to ${to}: ${refusal.why}; ${refusal.fix}`,
    );
  }

  value(v: unknown): unknown {
    if (typeof v === "object") return v === null ? v : this.#object(v);
    if (typeof v === "function") return this.#function(v);
    if (typeof v === "symbol") {
      this.refuse({
        why: "it is a symbol, which cannot be copied to another process",
        fix: "use a string",
      });
    }
    return v;
  }

  #child(v: unknown, key: string | number | { m: string }): unknown {
    if (
      typeof v !== "object" && typeof v !== "function" && typeof v !== "symbol"
    ) {
      return v;
    }
    if (v === null) return v;
    this.path.push(key);
    const out = this.value(v);
    this.path.pop();
    return out;
  }

  #object(v: object): unknown {
    const seen = this.#memo.get(v);
    if (seen !== undefined) {
      return seen instanceof TableToken ? this.#rowRef(v, seen) : seen;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype) return this.#plain(v, {});
    if (proto === Array.prototype) return this.#array(v as unknown[]);
    return this.#special(v, proto);
  }

  #plain(v: object, out: Record<string, unknown>): object {
    this.#memo.set(v, out);
    const own = Object.getPrototypeOf(v) === Object.prototype ? undefined : v;
    for (const key in v) {
      if (own && !Object.hasOwn(own, key)) continue;
      const y = this.#child((v as Record<string, unknown>)[key], key);
      if (key === "__proto__") {
        Object.defineProperty(out, key, {
          value: y,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else out[key] = y;
      if (y instanceof Placeholder) this.#sites.push(out, key);
    }
    return out;
  }

  #array(v: unknown[], asTable = true): unknown[] | Placeholder {
    if (asTable && v.length >= TABLE_MIN) {
      const table = this.#table(v);
      if (table) return table;
    }
    const out: unknown[] = [];
    this.#memo.set(v, out);
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (x === undefined && !(i in v)) {
        out.length = i + 1; // a hole stays a hole
        continue;
      }
      const y = this.#child(x, i);
      out.push(y);
      if (y instanceof Placeholder) this.#sites.push(out, i);
    }
    return out;
  }

  #table(rows: unknown[]): Placeholder | undefined {
    const columns = toColumns(rows);
    if (!columns) return undefined;
    // Values in columns must not need putting back after the rows are
    // rebuilt: objects in them hold primitives only.
    for (let c = 0; c < columns.cols.length; c++) {
      if (
        columns.nested[c] && !(columns.cols[c] as unknown[]).every(this.#flat)
      ) {
        return undefined;
      }
    }
    const token = new TableToken(rows);
    for (let i = 0; i < rows.length; i++) {
      if (this.#memo.has(rows[i])) {
        for (let j = 0; j < i; j++) this.#memo.delete(rows[j]);
        return undefined;
      }
      this.#memo.set(rows[i], token);
    }
    for (let c = 0; c < columns.cols.length; c++) {
      const col = columns.cols[c];
      if (col instanceof Float64Array) {
        columns.cols[c] = this.#view(col, true) as Float64Array;
      } else if (columns.nested[c]) {
        this.path.push({ m: `[…].${columns.keys[c]}` });
        columns.cols[c] = this.#array(col as unknown[], false) as unknown[];
        this.path.pop();
      }
    }
    token.ph = new Placeholder();
    this.#memo.set(rows, token.ph);
    const { keys, cols, n } = columns;
    this.#subs.push(token.ph, SUB.table, { keys, cols, n });
    return token.ph;
  }

  /** A plain object or array of primitives, not a row of a table. */
  #flat = (v: unknown): boolean => {
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
    if (this.#memo.get(v) instanceof TableToken) return false;
    for (const key in v) {
      if (!isPrimitive((v as Record<string, unknown>)[key])) return false;
    }
    return true;
  };

  #rowRef(row: object, token: TableToken): Placeholder {
    const ph = new Placeholder();
    this.#memo.set(row, ph);
    this.#subs.push(ph, SUB.row, [token.ph, token.rows.indexOf(row)]);
    return ph;
  }

  #special(v: object, proto: object | null): unknown {
    if (proto === null) {
      if (Object.prototype.toString.call(v) === "[object Module]") {
        this.refuse(moduleRefusal(this.options.to));
      }
      return this.#plain(v, {});
    }
    if (proto === Map.prototype) return this.#map(v as Map<unknown, unknown>);
    if (proto === Set.prototype) return this.#set(v as Set<unknown>);
    if (proto === Date.prototype) return this.#keep(v, new Date(+v));
    if (proto === RegExp.prototype) {
      return this.#keep(v, new RegExp(v as RegExp));
    }
    if (ArrayBuffer.isView(v)) return this.#view(v);
    if (proto === ArrayBuffer.prototype) return this.#buffer(v as ArrayBuffer);
    if (v instanceof Error) return this.#error(v, proto);
    if (
      proto === Number.prototype || proto === String.prototype ||
      proto === Boolean.prototype || proto === BigInt.prototype
    ) return this.#keep(v, v);
    const refusal = builtinRefusal(proto, this.options.to);
    if (refusal) this.refuse(refusal);
    return this.#instance(v, proto);
  }

  #keep(v: object, copy: object): object {
    this.#memo.set(v, copy);
    return copy;
  }

  #map(v: Map<unknown, unknown>, out = new Map()): Map<unknown, unknown> {
    this.#memo.set(v, out);
    let special = false;
    for (const [k, x] of v) {
      const k2 = this.#child(k, { m: ".keys()[…]" });
      const label = typeof k === "object" || typeof k === "function"
        ? "(…)"
        : `(${typeof k === "bigint" ? `${k}n` : JSON.stringify(k)})`;
      const x2 = this.#child(x, { m: `.get${label}` });
      out.set(k2, x2);
      special ||= k2 instanceof Placeholder || x2 instanceof Placeholder;
    }
    if (special) this.#rebuilds.push(out);
    return out;
  }

  #set(v: Set<unknown>, out = new Set()): Set<unknown> {
    this.#memo.set(v, out);
    let special = false;
    for (const x of v) {
      const x2 = this.#child(x, { m: ".values()[…]" });
      out.add(x2);
      special ||= x2 instanceof Placeholder;
    }
    if (special) this.#rebuilds.push(out);
    return out;
  }

  #buffer(v: ArrayBuffer): unknown {
    if (v.byteLength < RAW_MIN) return this.#keep(v, v.slice(0));
    const ph = new Placeholder();
    this.#memo.set(v, ph);
    this.#subs.push(ph, SUB.buffer, this.#rawIndex(v, false));
    return ph;
  }

  /** A typed array or DataView; `fresh` when the encoder made it. */
  #view(v: ArrayBufferView, fresh = false): unknown {
    const buffer = v.buffer;
    if (buffer instanceof SharedArrayBuffer) {
      this.refuse(
        builtinRefusal(SharedArrayBuffer.prototype, this.options.to)!,
      );
    }
    const type = (v as unknown as { [Symbol.toStringTag]?: string })[
      Symbol.toStringTag
    ] ?? "DataView";
    const length = type === "DataView"
      ? v.byteLength
      : (v as unknown as { length: number }).length;
    if (buffer.byteLength < RAW_MIN) {
      // Small: copy the buffer once, so views that share it still do.
      let copy = this.#memo.get(buffer) as ArrayBuffer | undefined;
      if (!copy) this.#memo.set(buffer, copy = buffer.slice(0));
      const View = (globalThis as unknown as Record<string, ViewConstructor>)[
        type
      ];
      return this.#keep(v, new View(copy, v.byteOffset, length));
    }
    const ph = new Placeholder();
    this.#memo.set(v, ph);
    this.#subs.push(ph, SUB.view, [
      this.#rawIndex(buffer, fresh),
      type,
      v.byteOffset,
      length,
    ]);
    return ph;
  }

  #rawIndex(buffer: ArrayBufferLike, fresh: boolean): number {
    let index = this.#rawOf.get(buffer);
    if (index === undefined) {
      const bytes = new Uint8Array(buffer);
      const copy = !fresh && this.options.snapshot !== false;
      index = this.#raw.push(copy ? bytes.slice() : bytes) - 1;
      this.#rawOf.set(buffer, index);
    }
    return index;
  }

  #error(v: Error, proto: object): Error {
    const Base = ERROR_TYPES.find((E) => v instanceof E)!;
    const message = typeof v.message === "string" ? v.message : "";
    const out = Base === AggregateError
      ? new AggregateError([], message)
      : new (Base as ErrorConstructor)(message);
    this.#memo.set(v, out);
    if (typeof v.stack === "string") out.stack = v.stack;
    if (Object.hasOwn(v, "cause")) {
      out.cause = this.#child(v.cause, "cause");
      if (out.cause instanceof Placeholder) this.#sites.push(out, "cause");
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
    if (hasExtra) this.#extras.push(out, this.#plain(extra, {}));
    if (proto !== Base.prototype) {
      const record = this.#classRecord(proto);
      if (typeof record === "number") this.#protos.push(out, record);
    }
    return out;
  }

  #instance(v: object, proto: object): unknown {
    const record = this.#classRecord(proto);
    let out: object;
    if (Array.isArray(v)) out = this.#array(v, false) as object;
    else if (v instanceof Map) out = this.#map(v);
    else if (v instanceof Set) out = this.#set(v);
    else if (v instanceof Date) out = this.#keep(v, new Date(+v));
    else if (v instanceof RegExp) out = this.#keep(v, new RegExp(v));
    else {
      if (typeof record !== "number") this.refuse(record);
      const privates = this.#privates(proto);
      if (privates.length) {
        const name = (proto.constructor as { name?: string }).name ?? "";
        this.refuse({
          why: `instances of ${name} have private members (${
            privates.map((p) => `#${p}`).join(", ")
          }), which cannot be copied`,
          fix: `send plain data and build the ${name} on the other side`,
        });
      }
      out = this.#plain(v, {});
    }
    if (typeof record === "number") this.#protos.push(out, record);
    return out;
  }

  /** The record of the class of instances of `proto`, or why it has none. */
  #classRecord(proto: object): number | Refusal {
    const C = Object.getOwnPropertyDescriptor(proto, "constructor")?.value;
    if (typeof C !== "function" || C.prototype !== proto) {
      return instanceRefusal("", "its class is unknown", this.options.to);
    }
    const record = this.#record(C, true);
    if (typeof record === "number" && this.#records[record].g === undefined) {
      return record;
    }
    const name = (C as { name: string }).name;
    const detail = typeof record === "number" || !record.missing
      ? undefined
      : `its class uses "${record.missing}", which ${
        this.options.to === "job" ? "the notebook" : "the job's code"
      } does not have at its top level`;
    return instanceRefusal(name, detail, this.options.to);
  }

  #privates(proto: object): string[] {
    const out: string[] = [];
    for (
      let p: object | null = proto;
      p && p !== Object.prototype;
      p = Object.getPrototypeOf(p)
    ) {
      const C = Object.getOwnPropertyDescriptor(p, "constructor")?.value;
      const index = this.#recordOf.get(C);
      if (index === undefined) continue;
      out.push(
        ...(this.#infos[index]?.privates ??
          this.options.origin?.(C)?.privates ?? []),
      );
    }
    return out;
  }

  #function(fn: unknown): Placeholder {
    const seen = this.#memo.get(fn);
    if (seen) return seen as Placeholder;
    const ph = new Placeholder();
    this.#memo.set(fn, ph);
    this.#subs.push(ph, SUB.fn, this.#record(fn, false));
    return ph;
  }

  /**
   * The record index of a function or class, sending its source and the
   * names it uses. `soft`: return why it cannot be sent instead of throwing.
   */
  #record(fn: unknown, soft: true): number | Refusal;
  #record(fn: unknown, soft: false): number;
  #record(fn: unknown, soft: boolean): number | Refusal {
    let index = this.#recordOf.get(fn);
    if (index !== undefined) return index;
    const origin = this.options.origin?.(fn);
    if (origin) return this.#push(fn, { o: origin.id }, undefined);
    const source = Function.prototype.toString.call(fn);
    const builtin = (): number | undefined => {
      const path = builtinPath(fn);
      return path === undefined
        ? undefined
        : this.#push(fn, { g: path }, undefined);
    };
    if (NATIVE.test(source)) {
      const bound = (fn as { name: string }).name.startsWith("bound ");
      const refusal = functionRefusal(
        bound ? "bound" : "native",
        this.options.to,
      );
      return builtin() ?? (soft ? refusal : this.refuse(refusal));
    }
    let info: FunctionInfo;
    try {
      info = this.options.analyze(source);
    } catch (error) {
      const index = builtin();
      if (index !== undefined) return index;
      throw error;
    }
    const where = this.#pathText();
    const values = new Map<string, unknown>();
    const scope = this.options.scope?.(fn);
    for (const [name, typeofOnly] of info.free) {
      const own = scope?.has(name) ?? false;
      if (this.#bound.has(name)) {
        if (own && this.#boundValue.get(name) !== scope!.get(name)) {
          this.refuse({
            why:
              `it uses its own "${name}", and something sent with it uses a different "${name}"`,
            fix: "rename one of them",
          });
        }
        continue;
      }
      const value = own ? scope!.get(name) : this.options.resolve(name);
      if (value === MISSING && !typeofOnly) {
        const refusal = freeNameRefusal(name, where, this.options.to);
        return builtin() ?? (soft ? refusal : this.refuse(refusal));
      }
      values.set(name, value);
    }
    const record: SourceRecord = { s: source };
    if (info.method) record.m = 1;
    if (info.privates.length) record.x = info.privates;
    index = this.#push(fn, record, info);
    for (const [name, value] of values) {
      if (!this.#bound.has(name)) {
        this.#bindValue(name, value, info.free.get(name)!, where);
      }
    }
    if (info.eager.length) {
      record.e = info.eager.filter((name) => this.#ns.has(name));
    }
    const keys = info.isClass ? [] : Object.keys(fn as object);
    if (keys.length) {
      const props: Record<string, unknown> = {};
      for (const key of keys) props[key] = (fn as Record<string, unknown>)[key];
      record.p = this.#plain(props, {}) as Record<string, unknown>;
    }
    return index;
  }

  #push(
    fn: unknown,
    record: SourceRecord,
    info: FunctionInfo | undefined,
  ): number {
    const index = this.#records.push(record) - 1;
    this.#recordOf.set(fn, index);
    this.#infos[index] = info;
    this.values[index] = fn;
    return index;
  }

  #pathText(): string {
    return this.path.map((p) => typeof p === "object" ? p.m : String(p)).join(
      ".",
    );
  }
}
