// The shape of an encoded value (a packet) and the small markers the
// encoder and decoder share. A packet is plain data V8's serializer takes,
// except `raw`, which frames carry as attachments.
import type { Columns } from "./columns.ts";
import type { TableChunks } from "./table_chunks.ts";
import type { Direction } from "./refusals.ts";

/** What scope analysis says about a function's source. */
export interface FunctionInfo {
  /** A class (its static fields come from its source). */
  isClass: boolean;
  /** The source is a method (`name() {}`), not an expression. */
  method: boolean;
  /** Names it uses without declaring: name → only used as `typeof name`. */
  free: Map<string, boolean>;
  /** Names a class needs when it is defined (heritage, statics, keys). */
  eager: string[];
  /** Private instance members (`#x`), which a copy cannot carry. */
  privates: string[];
}

/** A function or class as it travels. */
export interface SourceRecord {
  /** Source text. */
  s?: string;
  /** 1 when the source is a method. */
  m?: 1;
  /** Namespace names the class needs when it is defined. */
  e?: string[];
  /** Private instance members of a class. */
  x?: string[];
  /** The receiver's own function with this id (it sent it first). */
  o?: number;
  /** A builtin, by its path on `globalThis`. */
  g?: string;
  /** Own enumerable properties of a function. */
  p?: Record<string, unknown>;
}

/** An encoded value. */
export interface Packet {
  /** The value, copied, with placeholders. */
  v: unknown;
  /** Names the sent functions use, with their values. */
  ns?: Map<string, unknown>;
  /** Functions and classes, by record index. */
  fns?: SourceRecord[];
  /** Flat `[placeholder, SUB code, argument]` triples, in dependency order. */
  subs?: unknown[];
  /** Flat `[container, key]` pairs where a placeholder sits. */
  sites?: unknown[];
  /** Maps and Sets with a placeholder among their keys or values. */
  rebuilds?: unknown[];
  /** Flat `[object, record index]` pairs: restore the class prototype. */
  protos?: unknown[];
  /** Flat `[error, properties]` pairs: own properties of errors. */
  extras?: unknown[];
  /**
   * Big buffers, sent raw; and big tables, as chunks when sent
   * ({@linkcode TableChunks}), as their rebuilt rows when received.
   */
  raw?: RawPart[];
}

/** What a packet carries beside its body. */
export type RawPart = Uint8Array | TableChunks | unknown[];

/** What a placeholder stands for. */
export const SUB = {
  /** A function or class; the argument is its record index. */
  fn: 0,
  /** An ArrayBuffer; the argument is its `raw` index. */
  buffer: 1,
  /** A typed array or DataView: `[raw index, type, byteOffset, length]`. */
  view: 2,
  /**
   * An array of records, as {@linkcode Columns}; a big one as
   * `{ keys, n, part }`, its rows in `raw[part]` (see `table_chunks.ts`).
   */
  table: 3,
  /** A record of a table seen elsewhere too: `[table placeholder, row]`. */
  row: 4,
} as const;

/** Marks where the decoder puts something back (serialized as `{}`). */
export class Placeholder {}

/** An array sent as a table, while encoding: its rows and their keys. */
export class TableToken {
  ph: Placeholder | undefined;
  #index: Map<unknown, number> | undefined;
  constructor(readonly rows: unknown[], readonly keys: string[]) {}

  /**
   * Where `row` is among the rows, or -1. The index is made on first use:
   * most tables never need one (hashing 200,000 rows costs ~40 ms).
   */
  indexOf(row: unknown): number {
    if (!this.#index) {
      const index = new Map<unknown, number>();
      for (let i = 0; i < this.rows.length; i++) index.set(this.rows[i], i);
      this.#index = index;
    }
    return this.#index.get(row) ?? -1;
  }
}

export type { Columns };

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
  /**
   * Copy big buffers now, so later writes to them do not travel; with
   * `false`, a big table is taken apart as it is written. @default {true}
   */
  snapshot?: boolean;
  /** Send a big table in chunks (see `table_chunks.ts`). @default {true} */
  chunked?: boolean;
}

let identifier: RegExp | undefined;

/**
 * Whether `name` is a JavaScript identifier. The pattern is made on first
 * use: with its Unicode properties, making it takes ~0.6 ms, which every job
 * runtime (which never needs it) would pay as it starts.
 */
export function isIdentifier(name: string): boolean {
  identifier ??= new RegExp(
    "^[\\p{ID_Start}$_][\\p{ID_Continue}$\\u200c\\u200d]*$",
    "u",
  );
  return identifier.test(name);
}
