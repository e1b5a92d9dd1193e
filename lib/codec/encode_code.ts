// Encoding of code: functions and classes travel as records (their source,
// or the receiver's id for them, or a builtin's name), with the names they
// use bound in the packet's namespace; class instances are copied and get
// their class back when decoded.
import {
  type FunctionInfo,
  MISSING,
  Placeholder,
  type SourceRecord,
  SUB,
} from "./packet.ts";
import {
  builtinPath,
  freeNameRefusal,
  functionRefusal,
  instanceRefusal,
  type Refusal,
} from "./refusals.ts";
import { type Encoder, keep, pathText, refuse } from "./encoder.ts";
import { encodeMap, encodeSet } from "./encode_data.ts";

const NATIVE = /\{\s*\[native code\]\s*\}\s*$/;

/** A function value: a placeholder for its record. */
export function encodeFunction(enc: Encoder, fn: unknown): Placeholder {
  const seen = enc.memo.get(fn);
  if (seen) return seen as Placeholder;
  // Not substitute(): the placeholder is kept before the record is made, as
  // the function may meet itself among the names it uses.
  const ph = keep(enc, fn as object, new Placeholder());
  enc.subs.push(ph, SUB.fn, record(enc, fn, false));
  return ph;
}

/**
 * An instance of a class: copied as what it is built on (an object, array,
 * Map, Set, Date, RegExp), its class restored when decoded. An object of a
 * class that cannot be sent, or with private state, is refused; one built on
 * a builtin type arrives as that type.
 */
export function encodeInstance(
  enc: Encoder,
  v: object,
  proto: object,
): unknown {
  const cls = classRecord(enc, proto);
  let out: object;
  if (Array.isArray(v)) out = enc.walk.array(enc, v, false) as object;
  else if (v instanceof Map) out = encodeMap(enc, v);
  else if (v instanceof Set) out = encodeSet(enc, v);
  else if (v instanceof Date) out = keep(enc, v, new Date(+v));
  else if (v instanceof RegExp) out = keep(enc, v, new RegExp(v));
  else {
    if (typeof cls !== "number") refuse(enc, cls);
    const privates = privatesOf(enc, proto);
    if (privates.length) {
      const name = (proto.constructor as { name?: string }).name ?? "";
      refuse(enc, {
        why: `instances of ${name} have private members (${
          privates.map((p) => `#${p}`).join(", ")
        }), which cannot be copied`,
        fix: `send plain data and build the ${name} on the other side`,
      });
    }
    out = enc.walk.plain(enc, v, {});
  }
  if (typeof cls === "number") enc.protos.push(out, cls);
  return out;
}

/** The record of the class of instances of `proto`, or why it has none. */
export function classRecord(enc: Encoder, proto: object): number | Refusal {
  const C = Object.getOwnPropertyDescriptor(proto, "constructor")?.value;
  if (typeof C !== "function" || C.prototype !== proto) {
    return instanceRefusal("", "its class is unknown", enc.options.to);
  }
  const index = record(enc, C, true);
  if (typeof index === "number" && enc.records[index].g === undefined) {
    return index;
  }
  const name = (C as { name: string }).name;
  const detail = typeof index === "number" || !index.missing
    ? undefined
    : `its class uses "${index.missing}", which ${
      enc.options.to === "job" ? "the notebook" : "the job's code"
    } does not have at its top level`;
  return instanceRefusal(name, detail, enc.options.to);
}

function privatesOf(enc: Encoder, proto: object): string[] {
  const out: string[] = [];
  for (
    let p: object | null = proto;
    p && p !== Object.prototype;
    p = Object.getPrototypeOf(p)
  ) {
    const C = Object.getOwnPropertyDescriptor(p, "constructor")?.value;
    const index = enc.recordOf.get(C);
    if (index === undefined) continue;
    const privates = enc.infos[index]?.privates ??
      enc.options.origin?.(C)?.privates ?? [];
    out.push(...privates);
  }
  return out;
}

/**
 * The record index of a function or class, sending its source and the
 * names it uses. `soft`: return why it cannot be sent instead of throwing.
 */
function record(enc: Encoder, fn: unknown, soft: true): number | Refusal;
function record(enc: Encoder, fn: unknown, soft: false): number;
function record(enc: Encoder, fn: unknown, soft: boolean): number | Refusal {
  const known = enc.recordOf.get(fn);
  if (known !== undefined) return known;
  const origin = enc.options.origin?.(fn);
  if (origin) return push(enc, fn, { o: origin.id }, undefined);
  const source = Function.prototype.toString.call(fn);
  const cannot = (refusal: Refusal): number | Refusal => {
    const path = builtinPath(fn);
    if (path !== undefined) return push(enc, fn, { g: path }, undefined);
    return soft ? refusal : refuse(enc, refusal);
  };
  if (NATIVE.test(source)) {
    const bound = (fn as { name: string }).name.startsWith("bound ");
    return cannot(functionRefusal(bound ? "bound" : "native", enc.options.to));
  }
  let info: FunctionInfo;
  try {
    info = enc.options.analyze(source);
  } catch (error) {
    const path = builtinPath(fn);
    if (path !== undefined) return push(enc, fn, { g: path }, undefined);
    throw error;
  }
  const where = pathText(enc);
  const values = new Map<string, unknown>();
  const scope = enc.options.scope?.(fn);
  for (const [name, typeofOnly] of info.free) {
    const own = scope?.has(name) ?? false;
    if (enc.bound.has(name)) {
      if (own && enc.bound.get(name) !== scope!.get(name)) {
        refuse(enc, {
          why:
            `it uses its own "${name}", and something sent with it uses a different "${name}"`,
          fix: "rename one of them",
        });
      }
      continue;
    }
    const value = own ? scope!.get(name) : enc.options.resolve(name);
    if (value === MISSING && !typeofOnly) {
      return cannot(freeNameRefusal(name, where, enc.options.to));
    }
    values.set(name, value);
  }
  const rec: SourceRecord = { s: source };
  if (info.method) rec.m = 1;
  if (info.privates.length) rec.x = info.privates;
  const index = push(enc, fn, rec, info);
  for (const [name, value] of values) {
    if (!enc.bound.has(name)) {
      enc.walk.bindValue(enc, name, value, info.free.get(name)!, where);
    }
  }
  if (info.eager.length) rec.e = info.eager.filter((name) => enc.ns.has(name));
  const keys = info.isClass ? [] : Object.keys(fn as object);
  if (keys.length) {
    const props: Record<string, unknown> = {};
    for (const key of keys) props[key] = (fn as Record<string, unknown>)[key];
    rec.p = enc.walk.plain(enc, props, {}) as Record<string, unknown>;
  }
  return index;
}

function push(
  enc: Encoder,
  fn: unknown,
  rec: SourceRecord,
  info: FunctionInfo | undefined,
): number {
  const index = enc.records.push(rec) - 1;
  enc.recordOf.set(fn, index);
  enc.infos[index] = info;
  enc.values[index] = fn;
  return index;
}
