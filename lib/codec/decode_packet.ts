// Decoding a packet: put back what the placeholders stand for, evaluate the
// functions and classes from their source, and restore prototypes.
//
// In a job runtime ("global" mode) the names functions use become globals,
// as they were notebook top-level names, and functions are evaluated at
// global scope, so they share them with the job's own code. In the notebook
// ("closure" mode) the functions of one packet share a private scope holding
// the values they were sent with; other names resolve in the notebook.
import { fromColumns } from "./columns.ts";
import { rowsOf, TableChunks } from "./table_chunks.ts";
import { isIdentifier, type Packet, type SourceRecord, SUB } from "./packet.ts";
import { atBuiltinPath } from "./refusals.ts";

/** How to decode a packet. */
export interface DecodeOptions {
  /** `"global"` in a job runtime, `"closure"` in the notebook. */
  mode: "global" | "closure";
  /** The receiver's functions by the ids it sent them with. */
  origins?: readonly unknown[];
  /** Called for each function or class made from a record. */
  onFunction?(fn: unknown, index: number, record: SourceRecord): void;
  /**
   * Checks a record's source before it is evaluated; throws to refuse it.
   * The notebook checks that what a job sent only defines a function or
   * class, and runs nothing while being defined.
   */
  verify?(record: SourceRecord, sent: ReadonlySet<string>): void;
}

const VIEWS: Record<
  string,
  new (b: ArrayBuffer, o: number, n: number) => unknown
> = Object.fromEntries(
  [
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
    DataView,
    ...("Float16Array" in globalThis
      ? [
        (globalThis as unknown as { Float16Array: typeof Float32Array })
          .Float16Array,
      ]
      : []),
  ].map((View) => [View.name, View]),
);

/**
 * Decodes a packet made by the codec.
 *
 * @param packet The packet, as deserialized (attachments in `raw`).
 * @param options The mode, and the receiver's own functions.
 * @returns The value, the names its functions use, and the functions by
 * record index.
 */
export function decodePacket(
  packet: Packet,
  options: DecodeOptions,
): { value: unknown; names: Map<string, unknown>; functions: unknown[] } {
  const resolved = new Map<unknown, unknown>();
  const fnIndex = new Map<unknown, number>();
  const buffers: ArrayBuffer[] = [];
  const buffer = (i: number): ArrayBuffer => {
    const bytes = packet.raw?.[i];
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError(`Attachment ${i} is not bytes`);
    }
    return buffers[i] ??= bytes.byteOffset === 0 &&
        bytes.byteLength === bytes.buffer.byteLength
      ? bytes.buffer as ArrayBuffer
      : bytes.slice().buffer;
  };
  const fix = (x: unknown): unknown => resolved.has(x) ? resolved.get(x) : x;
  const subs = packet.subs ?? [];
  for (let i = 0; i < subs.length; i += 3) {
    const [ph, code, arg] = [subs[i], subs[i + 1], subs[i + 2]];
    if (code === SUB.fn) fnIndex.set(ph, arg as number);
    else if (code === SUB.buffer) resolved.set(ph, buffer(arg as number));
    else if (code === SUB.view) {
      const [raw, type, offset, length] = arg as [
        number,
        string,
        number,
        number,
      ];
      const View = VIEWS[type];
      if (!View) throw new TypeError(`Unknown view type ${String(type)}`);
      resolved.set(ph, new View(buffer(raw), offset, length));
    } else if (code === SUB.table && "part" in (arg as object)) {
      resolved.set(ph, chunkedRows(packet, arg as { n: number; part: number }));
    } else if (code === SUB.table) {
      const columns = arg as Parameters<typeof fromColumns>[0];
      columns.cols = columns.cols.map(fix) as typeof columns.cols;
      if (columns.cols.some((col) => !(col.length >= columns.n))) {
        throw new TypeError("A table's columns are shorter than its rows");
      }
      resolved.set(ph, fromColumns(columns));
    } else if (code === SUB.row) {
      const [table, row] = arg as [unknown, number];
      resolved.set(ph, (resolved.get(table) as unknown[])[row]);
    }
  }
  applySites(packet.sites, resolved);
  const fns = materialize(packet, resolved, fnIndex, options);
  fnIndex.forEach((index, ph) => resolved.set(ph, fns[index]));
  applySites(packet.sites, resolved);
  for (const container of packet.rebuilds ?? []) rebuild(container, fix);
  const extras = packet.extras ?? [];
  for (let i = 0; i < extras.length; i += 2) {
    Object.assign(extras[i] as object, extras[i + 1]);
  }
  const protos = packet.protos ?? [];
  for (let i = 0; i < protos.length; i += 2) {
    const cls = fns[protos[i + 1] as number] as { prototype: object };
    Object.setPrototypeOf(protos[i] as object, cls.prototype);
  }
  packet.fns?.forEach((record, i) => {
    if (record.p) Object.assign(fns[i] as object, record.p);
  });
  const names = new Map<string, unknown>();
  for (const [name, value] of packet.ns ?? []) names.set(name, fix(value));
  return { value: fix(packet.v), names, functions: fns };
}

/** The rows of a big table: rebuilt as its chunks were read, or now. */
function chunkedRows(
  packet: Packet,
  { n, part }: { n: number; part: number },
): unknown[] {
  const raw = packet.raw?.[part];
  const rows = raw instanceof TableChunks ? rowsOf(raw) : raw;
  if (!Array.isArray(rows) || rows.length !== n) {
    throw new TypeError("A table's chunks do not hold its rows");
  }
  return rows;
}

function applySites(
  sites: unknown[] | undefined,
  resolved: Map<unknown, unknown>,
): void {
  if (!sites) return;
  for (let i = 0; i < sites.length; i += 2) {
    const container = sites[i] as Record<PropertyKey, unknown>;
    const key = sites[i + 1] as PropertyKey;
    const current = container[key];
    if (resolved.has(current)) container[key] = resolved.get(current);
  }
}

function rebuild(container: unknown, fix: (x: unknown) => unknown): void {
  if (container instanceof Map) {
    const entries = [...container];
    container.clear();
    for (const [k, v] of entries) container.set(fix(k), fix(v));
  } else if (container instanceof Set) {
    const values = [...container];
    container.clear();
    for (const v of values) container.add(fix(v));
  }
}

function expression(record: SourceRecord): string {
  return record.m
    ? `((d) => d.value ?? d.get ?? d.set)(Object.values(Object.getOwnPropertyDescriptors({${record.s}\n}))[0])`
    : `(${record.s}\n)`;
}

/** Evaluates every record, classes after what they extend. */
function materialize(
  packet: Packet,
  resolved: Map<unknown, unknown>,
  fnIndex: Map<unknown, number>,
  options: DecodeOptions,
): unknown[] {
  const records = packet.fns ?? [];
  const fns: unknown[] = new Array(records.length);
  const namesOf: string[][] = records.map(() => []);
  const data = new Map<string, unknown>();
  for (const [name, value] of packet.ns ?? []) {
    const index = fnIndex.get(value);
    if (index === undefined) {
      data.set(name, resolved.has(value) ? resolved.get(value) : value);
    } else namesOf[index].push(name);
  }
  const recordOfName = new Map<string, number>();
  namesOf.forEach((names, i) => names.forEach((n) => recordOfName.set(n, i)));
  const order: number[] = [];
  const state: number[] = [];
  const visit = (i: number): void => {
    if (state[i]) return;
    state[i] = 1;
    for (const name of records[i].e ?? []) {
      const dep = recordOfName.get(name);
      if (dep !== undefined) visit(dep);
    }
    order.push(i);
  };
  records.forEach((_, i) => visit(i));
  records.forEach((record, i) => {
    if (record.o !== undefined) fns[i] = options.origins?.[record.o];
    else if (record.g !== undefined) fns[i] = atBuiltinPath(record.g);
  });
  if (options.mode === "global") {
    data.forEach((value, name) => defineGlobal(name, value));
    for (const i of order) {
      if (records[i].s !== undefined) {
        fns[i] = (0, eval)(`"use strict";${expression(records[i])}`);
      }
      for (const name of namesOf[i]) defineGlobal(name, fns[i]);
      options.onFunction?.(fns[i], i, records[i]);
    }
    return fns;
  }
  const init = new Map(data);
  namesOf.forEach((names, i) => names.forEach((n) => init.set(n, fns[i])));
  for (const name of init.keys()) {
    if (!isIdentifier(name) || name.startsWith("__bgjobs_")) {
      throw new TypeError(`Cannot decode a name that is not an identifier`);
    }
  }
  const sent = new Set(init.keys());
  for (const i of order) {
    if (records[i].s !== undefined) options.verify?.(records[i], sent);
  }
  const lines = ['"use strict";'];
  if (init.size) {
    lines.push(
      `let ${
        [...init.keys()].map((n) =>
          `${n} = __bgjobs_ns.get(${JSON.stringify(n)})`
        )
          .join(", ")
      };`,
    );
  }
  for (const i of order) {
    if (records[i].s === undefined) continue;
    const assign = namesOf[i].map((n) => `${n} = `).join("");
    lines.push(`${assign}__bgjobs_fns[${i}] = ${expression(records[i])};`);
  }
  new Function("__bgjobs_ns", "__bgjobs_fns", lines.join("\n"))(init, fns);
  records.forEach((record, i) => options.onFunction?.(fns[i], i, record));
  return fns;
}

/**
 * Makes `name` a global of this process (writable, like a notebook's own).
 *
 * @param name The global's name.
 * @param value Its value.
 */
export function defineGlobal(name: string, value: unknown): void {
  Object.defineProperty(globalThis, name, {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}
