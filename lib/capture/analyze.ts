// What a function's or a job's source needs: its free names (by real
// parsing), and for classes, what they need at definition time and which
// private members their instances carry. Results are cached by source text,
// so capturing the same functions again costs a map lookup.
import { parse } from "./parser.ts";
import { analyzeProgram, type FreeNames, freeNames } from "./free_names.ts";
import type { Node } from "./scope_walker.ts";
import type { FunctionInfo } from "../codec/packet.ts";

/** What the code form of a job needs. */
export interface CodeInfo {
  /** One expression (its value is the result), not a module. */
  expression: boolean;
  /** Names it uses without declaring. */
  free: FreeNames;
  /** Its top-level bindings (a module's own names, imports included). */
  declared: string[];
  /** Its import specifiers (string literals): where they are, as offsets in
   * the code. */
  imports: { start: number; end: number; specifier: string }[];
}

// What Deno runs: TypeScript, TC39 decorators and `accessor`, `using`,
// import attributes; top-level await.
const PLUGINS = [
  "typescript",
  "estree",
  ["decorators", { decoratorsBeforeExport: false }],
  "decoratorAutoAccessors",
  "explicitResourceManagement",
  "importAttributes",
] as const;

/**
 * Parses code as a module.
 *
 * @param code The code.
 * @param what How the error names the code.
 * @returns The Babel `estree` program.
 * @throws {TypeError} With Babel's message and position when it does not parse.
 */
export function parseModule(code: string, what = "job code"): Node {
  try {
    return parse(code, {
      sourceType: "module",
      plugins: PLUGINS,
      allowAwaitOutsideFunction: true,
    }).program;
  } catch (error) {
    throw new TypeError(
      `Cannot start a job: its ${what} does not parse: ${
        (error as Error).message
      }; fix the code`,
      { cause: error },
    );
  }
}

const CACHE_SIZE = 2000;
const functions = new Map<string, FunctionInfo>();

/**
 * Analyzes the source of a function or class (`Function.prototype.toString`).
 *
 * @param source The source text.
 * @returns Its free names and shape.
 * @throws {TypeError} When the source does not parse.
 */
export function analyzeFunction(source: string): FunctionInfo {
  let info = functions.get(source);
  if (!info) {
    if (functions.size >= CACHE_SIZE) functions.clear();
    functions.set(source, info = analyze(source));
  }
  return info;
}

/**
 * Analyzes job code (TypeScript or JavaScript).
 *
 * @param code The code.
 * @returns Whether it is one expression, its free names and its own names.
 * @throws {TypeError} When it does not parse.
 */
export function analyzeCode(code: string): CodeInfo {
  const program = parseModule(code);
  const { free, declared } = analyzeProgram(program);
  const expression = program.body.length === 1 &&
    program.body[0].type === "ExpressionStatement" &&
    program.body[0].directive === undefined;
  const imports = importsIn(program, 0);
  return { expression, free, declared: [...declared], imports };
}

/**
 * The import specifiers of a function's source (its dynamic `import()`s).
 *
 * @param source The source: an expression, as the runtime evaluates it.
 * @returns Where they are in `source`.
 * @throws {TypeError} When it does not parse.
 */
export function functionImports(source: string): CodeInfo["imports"] {
  return importsIn(parseModule(`(${source}\n)`, "function"), 1);
}

function importsIn(program: Node, shift: number): CodeInfo["imports"] {
  const imports: CodeInfo["imports"] = [];
  findImports(program, (source) => {
    imports.push({
      start: source.start - shift,
      end: source.end - shift,
      specifier: source.value,
    });
  });
  return imports;
}

/** Calls `found` with every string literal naming a module to import. */
function findImports(node: Node, found: (source: Node) => void): void {
  if (!node || typeof node !== "object") return;
  if (Array.isArray(node)) {
    for (const child of node) findImports(child, found);
    return;
  }
  const source = node.source;
  if (
    (node.type === "ImportDeclaration" || node.type === "ImportExpression" ||
      node.type === "ExportAllDeclaration" ||
      node.type === "ExportNamedDeclaration") &&
    source?.type === "Literal" && typeof source.value === "string"
  ) found(source);
  for (const key in node) {
    if (key !== "loc" && key !== "extra") findImports(node[key], found);
  }
}

function analyze(source: string): FunctionInfo {
  let program: Node;
  let method = false;
  try {
    program = parseModule(`(${source}\n)`, "function");
  } catch (error) {
    // A method's source (`name() {}`) is not an expression on its own.
    try {
      program = parseModule(`({${source}\n})`, "function");
      method = true;
    } catch {
      throw error;
    }
  }
  const node = program.body[0]?.expression;
  const isClass = node?.type === "ClassExpression";
  return {
    isClass,
    method,
    free: freeNames(program),
    eager: isClass ? eagerNames(node) : [],
    privates: isClass ? privateNames(node) : [],
  };
}

/** Names a class reads while it is being defined. */
function eagerNames(node: Node): string[] {
  const parts: Node[] = [];
  const expr = (e: Node) =>
    e && parts.push({ type: "ExpressionStatement", expression: e });
  expr(node.superClass);
  for (const d of node.decorators ?? []) expr(d);
  for (const member of node.body.body) {
    for (const d of member.decorators ?? []) expr(d);
    if (member.computed) expr(member.key);
    if (member.type === "StaticBlock") {
      parts.push({ type: "BlockStatement", body: member.body });
    } else if (
      member.static && member.value &&
      !member.value.type.endsWith("FunctionExpression")
    ) {
      expr(member.value);
    }
  }
  return [...freeNames({ type: "Program", body: parts }).keys()];
}

/** Private members every instance carries (`#x` fields, methods, accessors). */
function privateNames(node: Node): string[] {
  const names: string[] = [];
  for (const member of node.body.body) {
    const key = member.key;
    if (member.static || !key) continue;
    if (key.type === "PrivateName") names.push(key.id.name);
    else if (key.type === "PrivateIdentifier") names.push(key.name);
  }
  return names;
}
