// V8's value serializer, which the control channel's frames are made of.
// Deno has it twice: built in (the serializer behind `structuredClone`,
// reachable through `Deno[Deno.internal].core`) and as `node:v8`. Importing
// `node:v8` starts Deno's Node compatibility layer, which measured ~6 ms of
// every job runtime's start here (a third of a bare `deno run`). So the
// built-in one is used when this Deno has it, and `node:v8` is loaded only
// when it does not. Both ends of a channel run the same Deno binary, so they
// always pick the same one, and the bytes are V8's wire format either way.
import { denoCore } from "../codec/deno_core.ts";

/** V8's serializer: values to bytes and back, with structured-clone rules. */
export interface Serializer {
  /** Name of the implementation in use, for diagnostics and tests. */
  readonly name: "deno-core" | "node:v8";
  serialize(value: unknown): Uint8Array;
  deserialize(bytes: Uint8Array): unknown;
}

type Core = {
  serialize?: (value: unknown) => Uint8Array;
  deserialize?: (bytes: Uint8Array) => unknown;
};

function builtin(): Serializer | undefined {
  const core = denoCore() as Core | undefined;
  const { serialize, deserialize } = core ?? {};
  if (typeof serialize !== "function" || typeof deserialize !== "function") {
    return undefined;
  }
  return {
    name: "deno-core",
    serialize: (value) => serialize.call(core, value),
    deserialize: (bytes) => deserialize.call(core, bytes),
  };
}

async function nodeV8(): Promise<Serializer> {
  // Not a literal specifier: a literal one would be part of every module
  // graph that imports this file, built-in serializer or not.
  const specifier = ["node", "v8"].join(":");
  const v8 = await import(specifier) as {
    serialize(value: unknown): Uint8Array;
    deserialize(bytes: Uint8Array): unknown;
  };
  return {
    name: "node:v8",
    serialize: (value) => v8.serialize(value),
    deserialize: (bytes) => v8.deserialize(bytes),
  };
}

/** The serializer of this process (see the top of this file). */
export const serializer: Serializer = builtin() ?? await nodeV8();
