// The encoder's state: what one encoding has found so far, the packet it
// makes of that, and how it refuses what cannot be sent, naming where it is.
// The walk over values is in `encode_walk.ts`; typed data, tables and errors
// are in `encode_data.ts`; functions, classes and instances in `encode_code.ts`.
import {
  type EncodeOptions,
  type FunctionInfo,
  type Packet,
  Placeholder,
  type RawPart,
  type SourceRecord,
  type TableToken,
} from "./packet.ts";
import type { Refusal } from "./refusals.ts";

/** A step of the path refusals name: a key, an index, or literal text. */
export type PathPart = string | number | { m: string };

/**
 * The walk's entry points that typed data, tables, errors and code recurse
 * into. The walk (`encode_walk.ts`) gives them to the encoder, so its
 * modules import one way: walk → code → data.
 */
export interface Walk {
  child(enc: Encoder, v: unknown, key: PathPart): unknown;
  plain(enc: Encoder, v: object, out: Record<string, unknown>): object;
  array(enc: Encoder, v: unknown[], asTable: boolean): unknown;
  bindValue(
    enc: Encoder,
    name: string,
    value: unknown,
    typeofOnly: boolean,
    usedBy: string | undefined,
  ): void;
  classRecord(enc: Encoder, proto: object): number | Refusal;
}

/** One encoding in progress. */
export interface Encoder {
  readonly options: EncodeOptions;
  readonly walk: Walk;
  /** Where the walk is, for refusals. */
  path: PathPart[];
  /** The function whose names are being bound, for refusals. */
  via: string | undefined;
  /** Original object → its copy or placeholder. */
  readonly memo: Map<unknown, unknown>;
  /** The arrays sent as tables so far (their rows are not in `memo`). */
  readonly tables: TableToken[];
  /** Bound names → the sender's value. */
  readonly bound: Map<string, unknown>;
  readonly ns: Map<string, unknown>;
  readonly records: SourceRecord[];
  readonly recordOf: Map<unknown, number>;
  readonly infos: (FunctionInfo | undefined)[];
  /** The functions and classes sent, by record index. */
  readonly values: unknown[];
  readonly subs: unknown[];
  readonly sites: unknown[];
  readonly rebuilds: unknown[];
  readonly protos: unknown[];
  readonly extras: unknown[];
  readonly raw: RawPart[];
  readonly rawOf: Map<ArrayBufferLike, number>;
}

/** Starts an encoding. */
export function newEncoder(options: EncodeOptions, walk: Walk): Encoder {
  return {
    options,
    walk,
    path: [],
    via: undefined,
    memo: new Map(),
    tables: [],
    bound: new Map(),
    ns: new Map(),
    records: [],
    recordOf: new Map(),
    infos: [],
    values: [],
    subs: [],
    sites: [],
    rebuilds: [],
    protos: [],
    extras: [],
    raw: [],
    rawOf: new Map(),
  };
}

/** The packet of an encoding whose value (copied) is `v`. */
export function toPacket(enc: Encoder, v: unknown): Packet {
  const p: Packet = { v };
  if (enc.ns.size) p.ns = enc.ns;
  if (enc.records.length) p.fns = enc.records;
  if (enc.subs.length) p.subs = enc.subs;
  if (enc.sites.length) p.sites = enc.sites;
  if (enc.rebuilds.length) p.rebuilds = enc.rebuilds;
  if (enc.protos.length) p.protos = enc.protos;
  if (enc.extras.length) p.extras = enc.extras;
  if (enc.raw.length) p.raw = enc.raw;
  return p;
}

/** Throws the `TypeError` for what is at the current path. */
export function refuse(enc: Encoder, refusal: Refusal): never {
  const parts = enc.path.map((p, i) =>
    typeof p === "number"
      ? `[${p}]`
      : typeof p === "object"
      ? p.m
      : i === 0
      ? p
      : /^[A-Za-z_$][\w$]*$/.test(p)
      ? `.${p}`
      : `[${JSON.stringify(p)}]`
  );
  // A deep path is shown by its ends: "list.next…(1,490 more)….next".
  const where = parts.length <= 12
    ? parts.join("")
    : `${parts.slice(0, 6).join("")}…(${
      (parts.length - 12).toLocaleString("en")
    } more)…${parts.slice(-6).join("")}`;
  const via = enc.via ? ` (used by "${enc.via}")` : "";
  const to = enc.options.to === "job" ? "a job" : "the notebook";
  throw new TypeError(
    `Cannot send "${where}"${via} to ${to}: ${refusal.why}; ${refusal.fix}`,
  );
}

/** The current path as plain text (for "used by"). */
export function pathText(enc: Encoder): string {
  return enc.path.map((p) => typeof p === "object" ? p.m : String(p))
    .join(".");
}

/** Remembers `copy` as what `v` is sent as. */
export function keep<T extends object>(enc: Encoder, v: object, copy: T): T {
  enc.memo.set(v, copy);
  return copy;
}

/**
 * Sends `v` as a placeholder, which the decoder replaces with what the `SUB`
 * code `kind` builds from `arg`.
 */
export function substitute(
  enc: Encoder,
  v: object,
  kind: number,
  arg: unknown,
): Placeholder {
  const ph = keep(enc, v, new Placeholder());
  enc.subs.push(ph, kind, arg);
  return ph;
}
