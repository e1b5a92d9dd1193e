// The notebook's namespace, as bgjobs code sees it. In a Deno Jupyter
// kernel, indirect eval from a module reaches the notebook's top level: every
// cell's `const`, `let`, `function`, `class` and import. In a plain script it
// reaches the globals. Job exports are written back the same way.
import { RUNTIME_GLOBALS } from "../codec/runtime_globals.ts";
import { GLOBAL, MISSING } from "../codec/packet.ts";
import { defineGlobal } from "../codec/decode_packet.ts";

// Marks the functions a job runtime has as globals (`progress`, `share`, in
// `runtime/report.ts`), whichever copy of bgjobs they come from.
const BUILTIN = Symbol.for("bgjobs.runtimeGlobal");

const globalEval = eval;

/** The notebook's value of `name`, or `MISSING` when it has none. */
export function lookupNotebook(name: string): unknown {
  try {
    return globalEval(name);
  } catch {
    return MISSING;
  }
}

/**
 * What a job gets for a name its code uses: the notebook's value, `GLOBAL`
 * when a fresh job runtime has it already (and the notebook did not shadow
 * it), or `MISSING`.
 */
export function resolveNotebookName(name: string): unknown {
  const value = lookupNotebook(name);
  if (!RUNTIME_GLOBALS.has(name)) return value;
  if (value === MISSING) return GLOBAL;
  if (typeof value === "function" && BUILTIN in value) return GLOBAL;
  try {
    if (value === (globalThis as Record<string, unknown>)[name]) return GLOBAL;
  } catch { /* a global that throws when read: not the notebook's */ }
  return value;
}

/** How writing a name into the notebook went. */
export type WriteOutcome = "created" | "assigned" | "const" | "global";

const SLOT = "__bgjobs_export__";

/**
 * Writes `value` into the notebook as `name`: assigns an existing `let`
 * (or function, class, earlier export), or creates a new global name. A
 * notebook `const` or a builtin global is left alone.
 *
 * @returns What happened.
 */
export function writeNotebook(name: string, value: unknown): WriteOutcome {
  const current = lookupNotebook(name);
  if (current === MISSING) {
    defineGlobal(name, value);
    return "created";
  }
  if (resolveNotebookName(name) === GLOBAL) return "global";
  const slot = globalThis as Record<string, unknown>;
  slot[SLOT] = value;
  try {
    globalEval(`${name} = globalThis.${SLOT}`);
    return "assigned";
  } catch (error) {
    if (error instanceof TypeError) return "const";
    throw error;
  } finally {
    delete slot[SLOT];
  }
}
