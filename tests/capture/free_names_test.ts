// Scope analysis alone, without a job: fast unit tests of which names a
// piece of code would take from the notebook.
import assert from "node:assert/strict";
import { freeNames } from "../../lib/capture/free_names.ts";
import {
  analyzeCode,
  analyzeFunction,
  parseModule,
} from "../../lib/capture/analyze.ts";

function free(code: string): Record<string, boolean> {
  return Object.fromEntries(freeNames(parseModule(code)));
}

Deno.test("freeNames() finds what code uses without declaring, through nested scopes", () => {
  assert.deepEqual(
    free(`
      const local = 1;
      function f(param) {
        const inner = param + local + outer;
        return () => inner + deeper;
      }
      f(used);
    `),
    { outer: false, deeper: false, used: false },
  );
});

Deno.test("freeNames() respects shadowing, hoisting and block scope", () => {
  assert.deepEqual(
    free(`
      hoisted();
      function hoisted() { return later; }
      var later = 1;
      { let blockOnly = 2; }
      blockOnly;
      for (const item of items) item;
      try { risky(); } catch (error) { error; }
    `),
    { blockOnly: false, items: false, risky: false },
  );
});

Deno.test("freeNames() handles destructuring, defaults, classes and labels", () => {
  assert.deepEqual(
    free(`
      const { a, b: [c = fallback, ...rest] } = source;
      class K extends Base { #p = 1; static s = seed; m() { return this.#p + a + c + rest; } }
      outer: for (;;) { break outer; }
      new K();
    `),
    { fallback: false, source: false, Base: false, seed: false },
  );
});

Deno.test("freeNames() marks names used only under typeof, and skips types", () => {
  assert.deepEqual(
    free(`
      const t: Shape = { kind: typeof maybe, other: typeof seen };
      seen;
      interface Shape { kind: string }
      type Alias = Missing<number>;
    `),
    { maybe: true, seen: false },
  );
});

Deno.test("analyzeFunction() tells methods and classes apart, with what classes need early", () => {
  const method = analyzeFunction("run() { return helper(); }");
  assert.equal(method.method, true);
  assert.deepEqual([...method.free.keys()], ["helper"]);
  const cls = analyzeFunction(
    "class Point extends Base { #secret = 1; static origin = zero; [key]() {} }",
  );
  assert.equal(cls.isClass, true);
  assert.deepEqual(cls.privates, ["secret"]);
  assert.deepEqual(cls.eager.toSorted(), ["Base", "key", "zero"]);
});

Deno.test("analyzeCode() tells an expression from a module and finds relative imports", () => {
  const expr = analyzeCode("crawl(urls)");
  assert.equal(expr.expression, true);
  assert.deepEqual([...expr.free.keys()].toSorted(), ["crawl", "urls"]);
  const code = 'import { x } from "./x.ts";\nexport const y = x + base;';
  const mod = analyzeCode(code);
  assert.equal(mod.expression, false);
  assert.deepEqual([...mod.free.keys()], ["base"]);
  assert.deepEqual(mod.declared.toSorted(), ["x", "y"]);
  const [imported] = mod.imports;
  assert.equal(imported.specifier, "./x.ts");
  assert.equal(code.slice(imported.start, imported.end), '"./x.ts"');
});

Deno.test("parseModule() refuses code that does not parse, naming where", () => {
  assert.throws(
    () => parseModule("const = 1"),
    (e: Error) =>
      e instanceof TypeError &&
      /does not parse: .*\(1:6\); fix the code/.test(e.message),
  );
});
