// Checking code a job sent back before the notebook decodes it: it may only
// define a function or class, and defining it may run none of the job's code.
import type { Node } from "./scope_walker.ts";
import { parseModule } from "./analyze.ts";

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
