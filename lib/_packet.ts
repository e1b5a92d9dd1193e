// The shape of an encoded value (a packet) and the small markers the
// encoder and decoder share. A packet is plain data `node:v8` serializes,
// except `raw`, which frames carry as attachments.
import type { Columns } from "./_columns.ts";

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
  /** Big buffers, sent raw. */
  raw?: Uint8Array[];
}

/** What a placeholder stands for. */
export const SUB = {
  /** A function or class; the argument is its record index. */
  fn: 0,
  /** An ArrayBuffer; the argument is its `raw` index. */
  buffer: 1,
  /** A typed array or DataView: `[raw index, type, byteOffset, length]`. */
  view: 2,
  /** An array of records, as {@linkcode Columns}. */
  table: 3,
  /** A record of a table seen elsewhere too: `[table placeholder, row]`. */
  row: 4,
} as const;

/** Marks where the decoder puts something back (serialized as `{}`). */
export class Placeholder {}

/** Marks the rows of an array sent as a table, while encoding. */
export class TableToken {
  ph: Placeholder | undefined;
  constructor(readonly rows: unknown[]) {}
}

export type { Columns };
