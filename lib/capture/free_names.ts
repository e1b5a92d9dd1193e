// Scope analysis over a Babel ESTree AST (TypeScript included): which names
// does a piece of code use without declaring them? Those are the names a job
// needs from the notebook. Declarations are collected for the whole tree
// first and references resolved after, so hoisting and the temporal dead
// zone need no special care. Type-only syntax is skipped: a type annotation
// never makes a notebook name travel.

import { HANDLERS } from "./scope_handlers.ts";
import {
  newScope,
  type Node,
  type Reference,
  type Scope,
  Walker,
} from "./scope_walker.ts";

/** Free names of some code: name → `true` when only used as `typeof name`. */
export type FreeNames = Map<string, boolean>;

/**
 * Finds the free names of a parsed program: identifiers it reads or writes
 * that no enclosing scope in the program declares.
 *
 * @param program A Babel `estree` program.
 * @returns Each free name, `true` when every use is `typeof name`.
 */
export function freeNames(program: Node): FreeNames {
  return analyzeProgram(program).free;
}

/**
 * Scope analysis of a program: its free names, and the names its top level
 * declares (for a module: its own bindings, imports included).
 *
 * @param program A Babel `estree` program.
 * @returns The free names and the top-level names.
 */
export function analyzeProgram(
  program: Node,
): { free: FreeNames; declared: Set<string> } {
  const top = newScope(undefined, true);
  const refs: Reference[] = [];
  const walker = new Walker(refs, HANDLERS);
  walker.statements(program.body, top);
  const free: FreeNames = new Map();
  for (const ref of refs) {
    let scope: Scope | undefined = ref.scope;
    while (scope && !scope.names.has(ref.name)) scope = scope.parent;
    if (scope) continue;
    free.set(ref.name, (free.get(ref.name) ?? true) && ref.typeofOnly);
  }
  return { free, declared: top.names };
}
