// The walk behind scope analysis: scopes, the references met in them, and a
// walker that visits every node of a Babel ESTree AST, leaving each node type
// that has a handler to it (see `capture/scope_handlers.ts`). Type-only syntax is
// skipped: a type annotation never makes a notebook name travel.

// deno-lint-ignore no-explicit-any
export type Node = any;

/** A scope: the names declared in it. */
export interface Scope {
  parent: Scope | undefined;
  names: Set<string>;
  /** Where `var` declarations of code in this scope land. */
  vars: Scope;
}

/** A use of a name, resolved once every declaration is known. */
export interface Reference {
  scope: Scope;
  name: string;
  typeofOnly: boolean;
}

/** How the walker visits one node type. */
export type Handler = (w: Walker, node: Node, scope: Scope) => void;

// Keys that never hold runtime code: positions, comments and types.
const SKIP_KEYS = new Set([
  "type",
  "loc",
  "range",
  "start",
  "end",
  "extra",
  "comments",
  "leadingComments",
  "trailingComments",
  "innerComments",
  "typeAnnotation",
  "returnType",
  "typeParameters",
  "typeArguments",
  "superTypeParameters",
  "superTypeArguments",
  "implements",
  "predicate",
]);

// TypeScript nodes that wrap a runtime expression.
const TS_EXPRESSIONS = new Set([
  "TSAsExpression",
  "TSSatisfiesExpression",
  "TSNonNullExpression",
  "TSTypeAssertion",
  "TSInstantiationExpression",
  "TSExportAssignment",
]);

/**
 * A new scope in `parent`.
 *
 * @param parent The enclosing scope; `undefined` for the top level.
 * @param varScope Whether `var` declarations land in it (a function's).
 */
export function newScope(parent: Scope | undefined, varScope: boolean): Scope {
  const scope = { parent, names: new Set<string>() } as Scope;
  scope.vars = varScope || !parent ? scope : parent.vars;
  return scope;
}

/** Visits nodes, recording references and declaring names into scopes. */
export class Walker {
  /**
   * @param refs Where the references met go.
   * @param handlers How node types with their own scoping are visited.
   */
  constructor(
    readonly refs: Reference[],
    readonly handlers: Readonly<Record<string, Handler>>,
  ) {}

  statements(body: Node[], scope: Scope): void {
    for (const node of body) this.visit(node, scope);
  }

  /** Visits any node in `scope`. */
  visit(node: Node, scope: Scope): void {
    if (!node || typeof node.type !== "string") return;
    const handler = this.handlers[node.type];
    if (handler) return handler(this, node, scope);
    if (node.type.startsWith("TS") && !TS_EXPRESSIONS.has(node.type)) return;
    this.children(node, scope);
  }

  children(node: Node, scope: Scope): void {
    for (const key in node) {
      if (SKIP_KEYS.has(key)) continue;
      const child = node[key];
      if (Array.isArray(child)) { for (const c of child) this.visit(c, scope); }
      else if (child && typeof child === "object") this.visit(child, scope);
    }
  }

  reference(name: string, scope: Scope, typeofOnly = false): void {
    this.refs.push({ scope, name, typeofOnly });
  }

  /** Declares the names a binding pattern binds; visits its defaults. */
  declare(pattern: Node, into: Scope, evalScope: Scope): void {
    if (!pattern) return;
    switch (pattern.type) {
      case "Identifier":
        return void into.names.add(pattern.name);
      case "AssignmentPattern":
        this.declare(pattern.left, into, evalScope);
        return this.visit(pattern.right, evalScope);
      case "RestElement":
        return this.declare(pattern.argument, into, evalScope);
      case "ArrayPattern":
        for (const element of pattern.elements) {
          this.declare(element, into, evalScope);
        }
        return;
      case "ObjectPattern":
        for (const prop of pattern.properties) {
          if (prop.type === "RestElement") {
            this.declare(prop.argument, into, evalScope);
            continue;
          }
          if (prop.computed) this.visit(prop.key, evalScope);
          this.declare(prop.value, into, evalScope);
        }
        return;
      case "TSParameterProperty":
        return this.declare(pattern.parameter, into, evalScope);
    }
  }

  function(node: Node, scope: Scope): void {
    if (!node.body) return; // an overload signature or `declare function`
    const params = newScope(scope, true);
    if (node.type !== "ArrowFunctionExpression") params.names.add("arguments");
    if (node.type === "FunctionExpression" && node.id) {
      params.names.add(node.id.name);
    }
    for (const param of node.params) this.declare(param, params, params);
    if (node.body.type !== "BlockStatement") {
      return this.visit(node.body, params);
    }
    // The body's declarations are not visible to parameter defaults.
    this.statements(node.body.body, newScope(params, true));
  }

  class(node: Node, scope: Scope): void {
    if (node.declare) return;
    for (const decorator of node.decorators ?? []) this.visit(decorator, scope);
    this.visit(node.superClass, scope);
    const inner = newScope(scope, false);
    if (node.id) inner.names.add(node.id.name);
    for (const member of node.body.body) {
      for (const d of member.decorators ?? []) this.visit(d, inner);
      if (member.type === "StaticBlock") {
        this.statements(member.body, newScope(inner, true));
        continue;
      }
      if (member.type.startsWith("TS") || member.declare || member.abstract) {
        continue;
      }
      if (member.computed) this.visit(member.key, inner);
      this.visit(member.value, inner);
    }
  }
}
