/**
 * Encoding, the codec's first half, for values crossing between the notebook and a job, both ways.
 *
 * Data is copied with structured-clone semantics (Map, Set, Date, RegExp,
 * BigInt, typed arrays, errors with `cause`, cycles, shared references).
 * Functions and classes travel as source, with the names they use; class
 * instances get their prototype back. The encoder makes a copy that
 * V8's serializer takes, with placeholders where something needs work on
 * the other side (a function, a big buffer, a table of records), and lists
 * where they are, so decoding needs no second walk. Big buffers travel as
 * raw frame attachments, never through the serializer.
 *
 * @module
 */
import { newEncoder, toPacket } from "./encoder.ts";
import { bindName, encode, WALK } from "./encode_walk.ts";
import type { EncodeOptions, Packet } from "./packet.ts";

/**
 * Encodes named values, e.g. the notebook names a job uses.
 *
 * @param names Each name, `true` when only used as `typeof name`.
 * @param options Where names are looked up, and how functions are analyzed.
 * @returns The packet, and the functions sent as source by record index.
 * @throws {TypeError} Naming the variable and path of what cannot be sent.
 * @example Usage
 * ```ts
 * import { encodeNames } from "./encode.ts";
 * import { GLOBAL } from "./packet.ts";
 * const values: Record<string, unknown> = { base: 40 };
 * const { packet } = encodeNames(new Map([["base", false]]), {
 *   to: "job",
 *   resolve: (name) => values[name] ?? GLOBAL,
 *   analyze: () => { throw new Error("no functions here"); },
 * });
 * console.log(packet.ns); // Map(1) { "base" => 40 }
 * ```
 */
export function encodeNames(
  names: Map<string, boolean>,
  options: EncodeOptions,
): { packet: Packet; functions: unknown[] } {
  const enc = newEncoder(options, WALK);
  for (const [name, typeofOnly] of names) {
    bindName(enc, name, typeofOnly, undefined);
  }
  return { packet: toPacket(enc, undefined), functions: enc.values };
}

/**
 * Encodes one value, e.g. a job's result.
 *
 * @param value The value.
 * @param label How refusals name it, e.g. `"result"`.
 * @param options Where names are looked up, and how functions are analyzed.
 * @returns The packet.
 * @throws {TypeError} Naming the path of what cannot be sent.
 * @example Usage
 * ```ts
 * import { encodeValue } from "./encode.ts";
 * import { decodePacket } from "./decode_packet.ts";
 * import { MISSING } from "./packet.ts";
 * const packet = encodeValue(new Map([[1, new Date(0)]]), "result", {
 *   to: "notebook",
 *   resolve: () => MISSING,
 *   analyze: () => { throw new Error("no functions here"); },
 * });
 * console.log(decodePacket(packet, { mode: "closure" }).value); // Map(1) { 1 => 1970-01-01T00:00:00.000Z }
 * ```
 */
export function encodeValue(
  value: unknown,
  label: string,
  options: EncodeOptions,
): Packet {
  const enc = newEncoder(options, WALK);
  enc.path.push(label);
  return toPacket(enc, encode(enc, value));
}
