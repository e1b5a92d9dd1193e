// Scope analysis over a Babel ESTree AST (TypeScript included): which names
// does a piece of code use without declaring them? Those are the names a job
// needs from the notebook. Declarations are collected for the whole tree
// first and references resolved after, so hoisting and the temporal dead
// zone need no special care. Type-only syntax is skipped: a type annotation
// never makes a notebook name travel.

// deno-lint-ignore no-explicit-any
type Node = any;

interface Scope {
  parent: Scope | undefined;
  names: Set<string>;
  /** Where `var` declarations of code in this scope land. */
  vars: Scope;
}

interface Reference {
  scope: Scope;
  name: string;
  typeofOnly: boolean;
}

/** Free names of some code: name → `true` when only used as `typeof name`. */
export type FreeNames = Map<string, boolean>;

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
  const walker = new Walker(refs);
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

function newScope(parent: Scope | undefined, varScope: boolean): Scope {
  const scope = { parent, names: new Set<string>() } as Scope;
  scope.vars = varScope || !parent ? scope : parent.vars;
  return scope;
}

class Walker {
  constructor(readonly refs: Reference[]) {}

  statements(body: Node[], scope: Scope): void {
    for (const node of body) this.visit(node, scope);
  }

  /** Visits any node in `scope`. */
  visit(node: Node, scope: Scope): void {
    if (!node || typeof node.type !== "string") return;
    const handler = HANDLERS[node.type];
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

type Handler = (w: Walker, node: Node, scope: Scope) => void;

function block(w: Walker, body: Node[], scope: Scope): void {
  w.statements(body, newScope(scope, false));
}

const HANDLERS: Record<string, Handler> = {
  Identifier: (w, node, scope) => w.reference(node.name, scope),
  UnaryExpression(w, node, scope): void {
    if (node.operator === "typeof" && node.argument.type === "Identifier") {
      return w.reference(node.argument.name, scope, true);
    }
    w.visit(node.argument, scope);
  },
  MemberExpression(w, node, scope): void {
    w.visit(node.object, scope);
    if (node.computed) w.visit(node.property, scope);
  },
  OptionalMemberExpression: (w, node, scope) =>
    HANDLERS.MemberExpression(w, node, scope),
  Property(w, node, scope): void {
    if (node.computed) w.visit(node.key, scope);
    w.visit(node.value, scope);
  },
  MetaProperty: () => {},
  PrivateName: () => {},
  PrivateIdentifier: () => {},
  LabeledStatement: (w, node, scope) => w.visit(node.body, scope),
  BreakStatement: () => {},
  ContinueStatement: () => {},
  BlockStatement: (w, node, scope) => block(w, node.body, scope),
  StaticBlock: (w, node, scope) =>
    w.statements(node.body, newScope(scope, true)),
  SwitchStatement(w, node, scope): void {
    w.visit(node.discriminant, scope);
    const inner = newScope(scope, false);
    for (const c of node.cases) {
      w.visit(c.test, inner);
      w.statements(c.consequent, inner);
    }
  },
  ForStatement: (w, node, scope) => w.children(node, newScope(scope, false)),
  ForInStatement: (w, node, scope) => w.children(node, newScope(scope, false)),
  ForOfStatement: (w, node, scope) => w.children(node, newScope(scope, false)),
  CatchClause(w, node, scope): void {
    const inner = newScope(scope, false);
    w.declare(node.param, inner, inner);
    block(w, node.body.body, inner);
  },
  VariableDeclaration(w, node, scope): void {
    if (node.declare) return;
    const into = node.kind === "var" ? scope.vars : scope;
    for (const d of node.declarations) {
      w.declare(d.id, into, scope);
      w.visit(d.init, scope);
    }
  },
  FunctionDeclaration(w, node, scope): void {
    if (node.declare || !node.body) return;
    if (node.id) scope.names.add(node.id.name);
    w.function(node, scope);
  },
  FunctionExpression: (w, node, scope) => w.function(node, scope),
  ArrowFunctionExpression: (w, node, scope) => w.function(node, scope),
  ClassDeclaration(w, node, scope): void {
    if (node.declare) return;
    if (node.id) scope.names.add(node.id.name);
    w.class(node, scope);
  },
  ClassExpression: (w, node, scope) => w.class(node, scope),
  ImportDeclaration(_w, node, scope): void {
    if (node.importKind === "type") return;
    for (const s of node.specifiers) {
      if (s.importKind !== "type") scope.names.add(s.local.name);
    }
  },
  ExportNamedDeclaration(w, node, scope): void {
    if (node.exportKind === "type") return;
    if (node.declaration) return w.visit(node.declaration, scope);
    if (node.source) return;
    for (const s of node.specifiers) {
      if (s.exportKind !== "type") w.visit(s.local, scope);
    }
  },
  ExportAllDeclaration: () => {},
  TSEnumDeclaration(w, node, scope): void {
    if (node.declare) return;
    scope.names.add(node.id.name);
    const inner = newScope(scope, false);
    for (const m of node.members) {
      if (m.id.type === "Identifier") inner.names.add(m.id.name);
    }
    for (const m of node.members) w.visit(m.initializer, inner);
  },
  TSModuleDeclaration(w, node, scope): void {
    if (node.declare || node.id.type !== "Identifier") return;
    scope.names.add(node.id.name);
    let body = node.body;
    const inner = newScope(scope, true);
    while (body?.type === "TSModuleDeclaration") body = body.body;
    if (body) w.statements(body.body, inner);
  },
  TSImportEqualsDeclaration(w, node, scope): void {
    scope.names.add(node.id.name);
    if (node.importKind === "type") return;
    let ref = node.moduleReference;
    while (ref.type === "TSQualifiedName") ref = ref.left;
    if (ref.type === "Identifier") w.reference(ref.name, scope);
  },
};
