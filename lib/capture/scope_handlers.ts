// How each node type that declares names or opens a scope is walked: blocks,
// loops, functions, classes, imports and exports, TypeScript enums and
// namespaces. Every other node is walked child by child.
import {
  type Handler,
  newScope,
  type Node,
  type Scope,
  type Walker,
} from "./scope_walker.ts";

function block(w: Walker, body: Node[], scope: Scope): void {
  w.statements(body, newScope(scope, false));
}

/** The walker's handler of each node type with its own scoping. */
export const HANDLERS: Record<string, Handler> = {
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
