/**
 * Capture: what a job takes from the notebook when `job()` is called, and
 * what comes back when it ends.
 *
 * The job's function or code is parsed and scope-analyzed; every free name
 * that is a notebook top-level name (and not a global a fresh job runtime
 * has anyway) is copied with the codec, functions and classes as source with
 * the names they use in turn. Anything that cannot be sent makes `job()`
 * throw a `TypeError` before anything starts. Results and shared values come
 * back through the same codec; a code job's exports land in the notebook.
 *
 * @module
 */
import { decodePacket } from "../codec/decode_packet.ts";
import { encodeNames, encodeValue } from "../codec/encode.ts";
import type { EncodeOptions, Packet } from "../codec/packet.ts";
import { resolveNotebookName } from "./notebook.ts";
import {
  analyzeCode,
  analyzeFunction,
  type CodeInfo,
  functionImports,
} from "./analyze.ts";
import { currentProject, resolveImport } from "../project/project.ts";
import { checkDefinition } from "./check_definition.ts";

/** What `job()` sends to a job runtime, and how to read what comes back. */
export interface Capture {
  /** How the runtime runs `source`. */
  kind: "function" | "expression" | "module";
  /** The function's source, or the code. */
  source: string;
  /** What the runtime runs, when not `source`: imports resolved as a cell's. */
  run?: string;
  /** The notebook names the job uses, encoded; absent when none. */
  value?: Packet;
  /** A module's own top-level names (functions it exports may use them). */
  declared?: string[];
  /** The notebook names sent, in the order found. */
  names: string[];
  /** Decodes a packet the job sent (result, shared value). */
  receive(packet: Packet): unknown;
}

// Functions a job sent back keep the values they were sent with (a code
// job's private names), so they can be sent to a later job in turn.
const scopes = new WeakMap<object, ReadonlyMap<string, unknown>>();

const TO_JOB: EncodeOptions = {
  to: "job",
  resolve: resolveNotebookName,
  analyze: analyzeFunction,
  scope: (fn) => scopes.get(fn as object),
  snapshot: true,
};

/**
 * Captures a function job: its source and the notebook names it uses.
 *
 * @param fn The job's function.
 * @returns What to send.
 * @throws {TypeError} When its source does not parse, or a name it uses
 * cannot be sent (the message names it, its path, why, and the fix).
 * @example Usage
 * ```ts
 * import { captureFunction } from "./capture.ts";
 * const capture = captureFunction(() => Math.max(1, 2));
 * console.log(capture.names); // [] (Math is a global of every job runtime)
 * ```
 */
export function captureFunction(fn: (...args: never[]) => unknown): Capture {
  let source = Function.prototype.toString.call(fn);
  const info = analyzeFunction(source);
  if (info.method) {
    source =
      `Object.values(Object.getOwnPropertyDescriptors({${source}\n}))[0].value`;
  }
  const captured = capture("function", source, info.free, undefined);
  // Its own `import()`s resolve as a code job's (not the functions it uses:
  // their source is what identifies them when they come back).
  if (/\bimport\s*\(/.test(source)) {
    const run = resolveImports(source, functionImports(source));
    if (run !== source) captured.run = run;
  }
  return captured;
}

/**
 * Captures a code job: one expression, or a module (TypeScript allowed).
 *
 * @param code The code.
 * @returns What to send.
 * @throws {TypeError} When the code does not parse, or a notebook name it
 * uses cannot be sent.
 * @example Usage
 * ```ts
 * import { captureCode } from "./capture.ts";
 * console.log(captureCode("export const x: number = 1").kind); // "module"
 * ```
 */
export function captureCode(code: string): Capture {
  const info = analyzeCode(code);
  const captured = info.expression
    ? capture("expression", code, info.free, undefined)
    : capture("module", code, info.free, info.declared);
  const run = info.imports.length ? resolveImports(code, info.imports) : code;
  if (run !== code) captured.run = run;
  return captured;
}

/**
 * `code` with its imports resolved as a cell's would be, from the notebook's
 * folder: the runtime runs a code job as a `data:` module, which has no
 * folder, and a function job in its own module (see `_project.ts`).
 */
function resolveImports(code: string, imports: CodeInfo["imports"]): string {
  const project = currentProject();
  if (!project) return code;
  let run = code;
  for (
    const { start, end, specifier } of imports.toSorted((a, b) =>
      b.start - a.start
    )
  ) {
    const url = resolveImport(specifier, project);
    if (url) run = run.slice(0, start) + JSON.stringify(url) + run.slice(end);
  }
  return run;
}

function capture(
  kind: Capture["kind"],
  source: string,
  free: Map<string, boolean>,
  declared: string[] | undefined,
): Capture {
  const { packet, functions } = encodeNames(free, TO_JOB);
  const names = [...packet.ns?.keys() ?? []];
  return {
    kind,
    source,
    value: names.length ? packet : undefined,
    declared,
    names,
    receive(received): unknown {
      const decoded = decodePacket(received, {
        mode: "closure",
        origins: functions,
        verify: (record, sent) =>
          checkDefinition(record.s!, record.m === 1, sent),
      });
      received.fns?.forEach((record, index) => {
        const fn = decoded.functions[index];
        if (record.s !== undefined && typeof fn === "function") {
          scopes.set(fn, decoded.names);
        }
      });
      return decoded.value;
    },
  };
}

/**
 * Encodes a value for a job runtime the way notebook names are sent (e.g.
 * the items of `jobs.map`).
 *
 * @param value The value.
 * @param label How refusals name it, e.g. `"items[3]"`.
 * @returns The packet.
 * @throws {TypeError} Naming the path of what cannot be sent.
 */
export function encodeForJob(value: unknown, label: string): Packet {
  return encodeValue(value, label, TO_JOB);
}

/**
 * Decodes what a job started by an earlier kernel sends back (a detached
 * job followed again): as for a job of this kernel, in closure mode, but
 * with no functions of this kernel to refer to.
 *
 * @param packet The packet.
 * @returns The value.
 * @throws {TypeError} When the packet cannot be decoded.
 */
export function receiveRestored(packet: Packet): unknown {
  return decodePacket(packet, {
    mode: "closure",
    verify: (record, sent) => checkDefinition(record.s!, record.m === 1, sent),
  }).value;
}
