// The encoder's walk over plain data. It copies the value into something
// V8's serializer takes, putting a placeholder where the other side has work
// to do, and records where each placeholder sits. Typed data, tables and
// errors are in `codec/encode_data.ts`; functions, classes and instances in
// `codec/encode_code.ts`.
import { TABLE_MIN } from "./columns.ts";
import { namedKeys } from "./named_keys.ts";
import { GLOBAL, MISSING, Placeholder } from "./packet.ts";
import { builtinRefusal, freeNameRefusal, moduleRefusal } from "./refusals.ts";
import {
  encodeBuffer,
  encodeError,
  encodeMap,
  encodeSet,
  encodeTable,
  encodeView,
  isTableRow,
  tableRow,
} from "./encode_data.ts";
import { classRecord, encodeFunction, encodeInstance } from "./encode_code.ts";
import {
  type Encoder,
  keep,
  type PathPart,
  refuse,
  type Walk,
} from "./encoder.ts";

/** Adds a name the sent code uses, with its value, to the namespace. */
export function bindName(
  enc: Encoder,
  name: string,
  typeofOnly: boolean,
  usedBy: string | undefined,
): void {
  if (!enc.bound.has(name)) {
    bindValue(enc, name, enc.options.resolve(name), typeofOnly, usedBy);
  }
}

/** {@linkcode bindName} with the value already resolved. */
export function bindValue(
  enc: Encoder,
  name: string,
  value: unknown,
  typeofOnly: boolean,
  usedBy: string | undefined,
): void {
  if (value === GLOBAL || (value === MISSING && typeofOnly)) return;
  const { path, via } = enc;
  enc.path = [name];
  enc.via = usedBy;
  if (value === MISSING) {
    refuse(enc, freeNameRefusal(name, undefined, enc.options.to));
  }
  enc.bound.set(name, value);
  enc.ns.set(name, encode(enc, value));
  enc.path = path;
  enc.via = via;
}

/** Encodes any value. */
export function encode(enc: Encoder, v: unknown): unknown {
  if (typeof v === "object") return v === null ? v : encodeObject(enc, v);
  if (typeof v === "function") return encodeFunction(enc, v);
  if (typeof v === "symbol") {
    refuse(enc, {
      why: "it is a symbol, which cannot be copied to another process",
      fix: "use a string",
    });
  }
  return v;
}

/** Encodes a value found under `key` of what is being encoded. */
export function encodeChild(enc: Encoder, v: unknown, key: PathPart): unknown {
  if (
    typeof v !== "object" && typeof v !== "function" && typeof v !== "symbol"
  ) {
    return v;
  }
  if (v === null) return v;
  enc.path.push(key);
  if (
    enc.path.length > MAX_DEPTH && !enc.memo.has(v) && !isTableRow(enc, v)
  ) {
    refuse(enc, {
      why: `it is nested over ${MAX_DEPTH} levels deep`,
      fix:
        "flatten it, e.g. into an array of records that refer to each other by id",
    });
  }
  const out = encode(enc, v);
  enc.path.pop();
  return out;
}

/**
 * How deep data may nest. V8's serializer and deserializer give up at a
 * depth that depends on the stack (about 1,800 to 3,000 levels here): below
 * this, data travels; above it, it is refused naming where.
 */
export const MAX_DEPTH = 1500;

function encodeObject(enc: Encoder, v: object): unknown {
  const seen = enc.memo.get(v);
  if (seen !== undefined) return seen;
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype) {
    if (enc.tables.length > 0) {
      const row = tableRow(enc, v);
      if (row) return row;
    }
    return encodePlain(enc, v, {});
  }
  if (proto === Array.prototype) return encodeArray(enc, v as unknown[], true);
  return encodeSpecial(enc, v, proto);
}

/** Copies an object's own enumerable properties into `out`. */
export function encodePlain(
  enc: Encoder,
  v: object,
  out: Record<string, unknown>,
): object {
  enc.memo.set(v, out);
  const own = Object.getPrototypeOf(v) === Object.prototype ? undefined : v;
  for (const key in v) {
    if (own && !Object.hasOwn(own, key)) continue;
    const y = encodeChild(enc, readProperty(enc, v, key), key);
    if (key === "__proto__") {
      Object.defineProperty(out, key, {
        value: y,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else out[key] = y;
    if (y instanceof Placeholder) enc.sites.push(out, key);
  }
  return out;
}

/** Reads `v[key]`; a getter that throws is refused naming its path. */
function readProperty(enc: Encoder, v: object, key: string): unknown {
  try {
    return (v as Record<string, unknown>)[key];
  } catch (error) {
    enc.path.push(key);
    const { name, message } = error instanceof Error
      ? error
      : { name: "Error", message: String(error) };
    refuse(enc, {
      why: `reading it threw ${name}: ${message}`,
      fix:
        "send plain data, e.g. a copy made with structuredClone() or a literal",
    });
  }
}

/** Copies an array (holes stay holes), or sends it as a table. */
export function encodeArray(
  enc: Encoder,
  v: unknown[],
  asTable: boolean,
): unknown[] | Placeholder {
  const named = namedKeys(v);
  if (asTable && named.length === 0 && v.length >= TABLE_MIN) {
    const table = encodeTable(enc, v);
    if (table) return table;
  }
  const out: unknown[] = [];
  enc.memo.set(v, out);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (x === undefined && !(i in v)) {
      out.length = i + 1;
      continue;
    }
    const y = encodeChild(enc, x, i);
    out.push(y);
    if (y instanceof Placeholder) enc.sites.push(out, i);
  }
  // Named properties travel too, as structured clone keeps them (a RegExp
  // match's index, input and groups).
  for (const key of named) {
    const y = encodeChild(enc, readProperty(enc, v, key), key);
    (out as unknown as Record<string, unknown>)[key] = y;
    if (y instanceof Placeholder) enc.sites.push(out, key);
  }
  return out;
}

function encodeSpecial(enc: Encoder, v: object, proto: object | null): unknown {
  if (proto === null) {
    if (Object.prototype.toString.call(v) === "[object Module]") {
      refuse(enc, moduleRefusal(enc.options.to));
    }
    return encodePlain(enc, v, {});
  }
  if (proto === Map.prototype) {
    return encodeMap(enc, v as Map<unknown, unknown>);
  }
  if (proto === Set.prototype) return encodeSet(enc, v as Set<unknown>);
  if (proto === Date.prototype) return keep(enc, v, new Date(+v));
  if (proto === RegExp.prototype) return keep(enc, v, new RegExp(v as RegExp));
  if (ArrayBuffer.isView(v)) return encodeView(enc, v, false);
  if (proto === ArrayBuffer.prototype) {
    return encodeBuffer(enc, v as ArrayBuffer);
  }
  if (v instanceof Error) return encodeError(enc, v, proto);
  if (
    proto === Number.prototype || proto === String.prototype ||
    proto === Boolean.prototype || proto === BigInt.prototype
  ) return keep(enc, v, v);
  const refusal = builtinRefusal(proto, enc.options.to);
  if (refusal) refuse(enc, refusal);
  return encodeInstance(enc, v, proto);
}

/** The walk, as the encoder hands it to the modules that recurse into it. */
export const WALK: Walk = {
  child: encodeChild,
  plain: encodePlain,
  array: encodeArray,
  bindValue,
  classRecord,
};
