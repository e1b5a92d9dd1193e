// What a function's or a job's source needs: its free names (by real
// parsing), and for classes, what they need at definition time and which
// private members their instances carry. Results are cached by source text,
// so capturing the same functions again costs a map lookup.
import { parse } from "npm:@babel/parser@7.26.3";
import { analyzeProgram, type FreeNames, freeNames } from "./_scope.ts";
import type { FunctionInfo } from "./_packet.ts";

// deno-lint-ignore no-explicit-any
type Node = any;

/** What the code form of a job needs. */
export interface CodeInfo {
  /** One expression (its value is the result), not a module. */
  expression: boolean;
  /** Names it uses without declaring. */
  free: FreeNames;
  /** Its top-level bindings (a module's own names, imports included). */
  declared: string[];
  /** Relative import specifiers: where they are, as offsets in the code. */
  relativeImports: { start: number; end: number; specifier: string }[];
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
 * @throws {TypeError} With Babel's message and position when it does not parse.
 */
function parseModule(code: string, what = "job code"): Node {
  try {
    return parse(code, {
      sourceType: "module",
      plugins: PLUGINS as never,
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
  const relativeImports: CodeInfo["relativeImports"] = [];
  findImports(program, (source) => {
    if (/^\.{0,2}\//.test(source.value)) {
      relativeImports.push({
        start: source.start,
        end: source.end,
        specifier: source.value,
      });
    }
  });
  return { expression, free, declared: [...declared], relativeImports };
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

/**
 * Checks that source a job sent only defines a function or class: one
 * function, arrow, method or class, whose definition runs no code (a class's
 * heritage, computed keys and static fields are names, literals or
 * functions; no static blocks, no decorators). Decoding it then runs nothing
 * of the job's in the notebook; calling it later is the user's choice.
 *
 * A static field may also be a builtin made fresh (`new Map()`), unless the
 * job sent a value under that builtin's name.
 *
 * @param source The source text.
 * @param method Whether it is a method's source.
 * @param sent The names the job sent values for.
 * @throws {TypeError} When it is anything else.
 */
export function checkDefinition(
  source: string,
  method: boolean,
  sent: ReadonlySet<string> = new Set(),
): void {
  const isInert = (node: Node): boolean => inert(node, sent);
  let node: Node;
  try {
    const program = parseModule(method ? `({${source}\n})` : `(${source}\n)`);
    if (program.body.length !== 1) throw new TypeError("not one expression");
    node = program.body[0].expression;
    if (method) {
      if (node.type !== "ObjectExpression" || node.properties.length !== 1) {
        throw new TypeError("not one method");
      }
      const prop = node.properties[0];
      if (prop.computed && !isInert(prop.key)) throw new TypeError("key");
      node = prop.value;
    }
  } catch {
    node = undefined;
  }
  const ok = node?.type === "FunctionExpression" ||
    node?.type === "ArrowFunctionExpression" ||
    (node?.type === "ClassExpression" && inertClass(node, sent));
  if (!ok) {
    throw new TypeError(
      "A job sent code that does more than define a function or class; it is not run",
    );
  }
}

function inertClass(node: Node, sent: ReadonlySet<string>): boolean {
  if (node.decorators?.length) return false;
  if (node.superClass && !inert(node.superClass, sent)) return false;
  return node.body.body.every((member: Node) =>
    member.type !== "StaticBlock" && !member.decorators?.length &&
    (!member.computed || inert(member.key, sent)) &&
    (!member.static || !member.value || inert(member.value, sent))
  );
}

// Builtins a static field may make fresh, e.g. `static cache = new Map()`.
const FRESH = new Set([
  "Map",
  "Set",
  "WeakMap",
  "WeakSet",
  "Date",
  "RegExp",
  "Array",
  "Object",
  "Symbol",
  "Error",
]);

/** Evaluating it runs no code of the job's: names, literals, functions. */
function inert(node: Node, sent: ReadonlySet<string>): boolean {
  const isInert = (n: Node): boolean => inert(n, sent);
  switch (node?.type) {
    case "NewExpression":
    case "CallExpression":
      return node.callee.type === "Identifier" && FRESH.has(node.callee.name) &&
        !sent.has(node.callee.name) && node.arguments.every(isInert);
    case "Identifier":
    case "Literal":
    case "FunctionExpression":
    case "ArrowFunctionExpression":
      return true;
    case "TemplateLiteral":
      return node.expressions.length === 0;
    case "MemberExpression":
      return !node.computed && isInert(node.object);
    case "UnaryExpression":
      return node.operator === "-" && node.argument.type === "Literal";
    case "ArrayExpression":
      return node.elements.every((e: Node) => e === null || isInert(e));
    case "ObjectExpression":
      return node.properties.every((p: Node) =>
        p.type === "Property" && !p.computed && isInert(p.value)
      );
    case "ClassExpression":
      return inertClass(node, sent);
  }
  return false;
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
