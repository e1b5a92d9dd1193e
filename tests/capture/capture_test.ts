/**
 * Capture, table-driven: for each case, a notebook (names defined at global
 * scope, as a notebook's top level is) and a job. Each case checks which
 * notebook names `job()` sends, then runs the job for real and checks what
 * it returns.
 */
import assert from "node:assert/strict";
import { job, jobs } from "../../mod.ts";
import { captureCode, captureFunction } from "../../lib/capture/capture.ts";
import { RUNTIME_GLOBALS } from "../../lib/codec/runtime_globals.ts";
import { jobTest } from "../_util.ts";

interface Case {
  /** Completes "capture() …". */
  name: string;
  /** Script run at global scope first: the notebook's names. */
  notebook?: string;
  /** The job: a function's source, or code when `code` is set. */
  job: string;
  code?: boolean;
  /** The notebook names the job must be sent. */
  sends: string[];
  /** What the job returns. */
  returns?: unknown;
  /** Further checks on the result. */
  check?: (result: unknown) => void;
  /** The job's permissions. @default {"none"} */
  permissions?: "none" | "inherit";
}

const CASES: Case[] = [
  // Scoping.
  {
    name: "sends a notebook name the function reads",
    notebook: "var base = 40",
    job: "() => base + 2",
    sends: ["base"],
    returns: 42,
  },
  {
    name: "ignores a shadowed parameter",
    notebook: "var x = 1",
    job: "() => ((x) => x * 2)(21)",
    sends: [],
    returns: 42,
  },
  {
    name: "ignores a name declared by let in the function",
    notebook: "var y = 5",
    job: "() => { let y = 2; return y * 21 }",
    sends: [],
    returns: 42,
  },
  {
    name: "sends a name read outside the block that shadows it",
    notebook: "var z = 1",
    job: "() => { const a = z; { const z = 5; } return a }",
    sends: ["z"],
    returns: 1,
  },
  {
    name: "ignores names bound by array and object destructuring",
    notebook: "var pair = [1, { b: 41 }]; var b = 0",
    job: "() => { const [a, { b }] = pair; return a + b }",
    sends: ["pair"],
    returns: 42,
  },
  {
    name: "sends a name used as a destructuring default",
    notebook: "var fallback = 7",
    job: "() => { const { a = fallback } = {}; return a }",
    sends: ["fallback"],
    returns: 7,
  },
  {
    name: "sends a name used as a default of a destructured parameter",
    notebook: "var dflt = 3",
    job: "() => (({ v = dflt }) => v)({})",
    sends: ["dflt"],
    returns: 3,
  },
  {
    name: "resolves default parameters outside the function body",
    notebook: "var seed = 10",
    job: "() => ((a = seed) => { var seed = 1; return a + seed })()",
    sends: ["seed"],
    returns: 11,
  },
  {
    name: "ignores array rest elements",
    job: "() => { const [h, ...t] = [1, 2, 3]; return t }",
    sends: [],
    returns: [2, 3],
  },
  {
    name: "sends the source of an object rest",
    notebook: "var src = { a: 1, b: 2, c: 3 }",
    job: "() => { const { a, ...rest } = src; return rest }",
    sends: ["src"],
    returns: { b: 2, c: 3 },
  },
  {
    name: "sends names that nested closures use",
    notebook: "var factor = 2",
    job: "() => { const mul = (x) => x * factor; return [1, 2].map(mul) }",
    sends: ["factor"],
    returns: [2, 4],
  },
  {
    name: "ignores a named function expression's own name",
    notebook: "var f = 'notebook f'",
    job: "() => (function f(n) { return n ? f(n - 1) + 1 : 0 })(3)",
    sends: [],
    returns: 3,
  },
  {
    name: "ignores a function declared later in the job",
    job: "() => { return g(); function g() { return 42 } }",
    sends: [],
    returns: 42,
  },
  {
    name: "ignores a var hoisted in the job",
    notebook: "var h = 'notebook h'",
    job: "() => { h = 1; var h; return h }",
    sends: [],
    returns: 1,
  },
  {
    name: "ignores a class declared in the job",
    notebook: "var A = 1",
    job: "() => { class A { v() { return 42 } } return new A().v() }",
    sends: [],
    returns: 42,
  },
  {
    name: "sends names read by class fields and static blocks",
    notebook: "var start = 5; var bump = 2",
    job:
      "() => { class C { n = start; static s; static { C.s = bump } } return new C().n + C.s }",
    sends: ["bump", "start"],
    returns: 7,
  },
  {
    name: "sends names read by getters",
    notebook: "var unit = 'kg'",
    job: "() => ({ get label() { return 'w ' + unit } }).label",
    sends: ["unit"],
    returns: "w kg",
  },
  {
    name: "sends names used as computed keys",
    notebook: "var keyName = 'k'",
    job: "() => ({ [keyName]: 1 })",
    sends: ["keyName"],
    returns: { k: 1 },
  },
  {
    name: "ignores property keys",
    notebook: "var color = 'red'",
    job: "() => ({ color: 1 }).color",
    sends: [],
    returns: 1,
  },
  {
    name: "sends shorthand properties",
    notebook: "var shade = 'blue'",
    job: "() => ({ shade })",
    sends: ["shade"],
    returns: { shade: "blue" },
  },
  {
    name: "ignores member names after a dot",
    notebook: "var size = 9",
    job: "() => [1, 2].size",
    sends: [],
    returns: undefined,
  },
  {
    name: "ignores labels",
    notebook: "var outer = 1",
    job: "() => { let n = 0; outer: for (;;) { n++; break outer } return n }",
    sends: [],
    returns: 1,
  },
  {
    name: "does not refuse typeof of an undefined name",
    job: "() => typeof notDefinedAnywhere",
    sends: [],
    returns: "undefined",
  },
  {
    name: "sends a notebook name read with typeof",
    notebook: "var maybe = 1",
    job: "() => typeof maybe",
    sends: ["maybe"],
    returns: "number",
  },
  {
    name: "sends names a generator uses",
    notebook: "var limit = 3",
    job:
      "() => { function* gen() { for (let i = 0; i < limit; i++) yield i } return [...gen()] }",
    sends: ["limit"],
    returns: [0, 1, 2],
  },
  {
    name: "sends names an async arrow uses",
    notebook: "var delayMs = 1",
    job:
      "async () => { const wait = async (ms) => { await new Promise((r) => setTimeout(r, ms)); return ms }; return await wait(delayMs) }",
    sends: ["delayMs"],
    returns: 1,
  },
  {
    name: "ignores a catch parameter",
    notebook: "var e = 5",
    job: "() => { try { throw 1 } catch (e) { return e } }",
    sends: [],
    returns: 1,
  },
  {
    name: "ignores a for-of binding",
    notebook: "var item = 0",
    job:
      "() => { const out = []; for (const item of [1, 2]) out.push(item); return out }",
    sends: [],
    returns: [1, 2],
  },
  {
    name: "sends what for-in walks",
    notebook: "var bag = { a: 1, b: 2 }",
    job: "() => { const ks = []; for (const k in bag) ks.push(k); return ks }",
    sends: ["bag"],
    returns: ["a", "b"],
  },
  {
    name: "ignores names declared in a switch case",
    notebook: "var q = 9",
    job: "() => { switch (1) { case 1: let q = 2; return q } }",
    sends: [],
    returns: 2,
  },
  {
    name: "ignores arguments in a function",
    job: "() => (function () { return arguments.length })(1, 2)",
    sends: [],
    returns: 2,
  },
  {
    name: "ignores new.target",
    job: "() => (function F() { return new.target === undefined })()",
    sends: [],
    returns: true,
  },
  {
    name: "does not send runtime globals",
    job:
      "() => [Math.max(1, 2), JSON.stringify([1]), typeof fetch, typeof Deno.pid]",
    sends: [],
    returns: [2, "[1]", "function", "number"],
  },
  {
    name: "does not send progress and share",
    job: "() => { progress(1, 2); share('k', 1); return 1 }",
    sends: [],
    returns: 1,
  },
  {
    name: "sends names behind optional chaining",
    notebook: "var maybeObj = null",
    job: "() => maybeObj?.x ?? 'none'",
    sends: ["maybeObj"],
    returns: "none",
  },
  {
    name: "sends names in template literals",
    notebook: "var who = 'w'",
    job: "() => `hi ${who}`",
    sends: ["who"],
    returns: "hi w",
  },
  {
    name: "sends a template tag",
    notebook: "var tag = (s, v) => s[0] + v",
    job: "() => tag`a${1}`",
    sends: ["tag"],
    returns: "a1",
  },
  {
    name: "sends spread arguments",
    notebook: "var nums = [1, 2]",
    job: "() => Math.max(...nums)",
    sends: ["nums"],
    returns: 2,
  },
  {
    name: "sends a copy that the job may change",
    notebook: "var counter = 0",
    job: "() => { counter += 5; return counter }",
    sends: ["counter"],
    returns: 5,
    check: () =>
      assert.equal((globalThis as Record<string, unknown>).counter, 0),
  },
  {
    name: "sends destructuring assignment targets",
    notebook: "var s1 = 1, s2 = 2",
    job: "() => { [s1, s2] = [s2, s1]; return [s1, s2] }",
    sends: ["s1", "s2"],
    returns: [2, 1],
  },
  {
    name: "sends names used in methods of a class expression",
    notebook: "var greeting = 'hey'",
    job:
      "() => new (class { say() { return [1].map(() => greeting)[0] } })().say()",
    sends: ["greeting"],
    returns: "hey",
  },
  // Notebook functions and classes travel as source, with what they use.
  {
    name: "sends a recursive notebook function",
    notebook: "function fact(n) { return n <= 1 ? 1 : n * fact(n - 1) }",
    job: "() => fact(5)",
    sends: ["fact"],
    returns: 120,
  },
  {
    name: "sends mutually recursive notebook functions",
    notebook:
      "function isEven(n) { return n === 0 || isOdd(n - 1) } function isOdd(n) { return n !== 0 && isEven(n - 1) }",
    job: "() => [isEven(10), isOdd(7)]",
    sends: ["isEven", "isOdd"],
    returns: [true, true],
  },
  {
    name: "sends what notebook functions use, transitively",
    notebook:
      "function a1() { return b1() + 1 } function b1() { return c1 * 2 } var c1 = 20",
    job: "() => a1()",
    sends: ["a1", "b1", "c1"],
    returns: 41,
  },
  {
    name: "keeps an instance's class",
    notebook:
      "var Pt = class Pt { constructor(x, y) { this.x = x; this.y = y } sum() { return this.x + this.y } }; var pt = new Pt(40, 2)",
    job: "() => [pt.sum(), pt instanceof Pt]",
    sends: ["Pt", "pt"],
    returns: [42, true],
  },
  {
    name: "sends a subclass and its base class",
    notebook:
      "var Base = class Base { hi() { return 'b' } }; var Sub = class Sub extends Base { hi() { return super.hi() + 's' } }",
    job: "() => new Sub().hi()",
    sends: ["Base", "Sub"],
    returns: "bs",
  },
  {
    name: "sends what a class reads when it is defined",
    notebook: "var initial = 9; var Cfg = class Cfg { static v = initial }",
    job: "() => Cfg.v",
    sends: ["Cfg", "initial"],
    returns: 9,
  },
  {
    name: "sends a class with private fields",
    notebook:
      "var Counter = class Counter { #n = 0; inc() { return ++this.#n } }",
    job: "() => { const c = new Counter(); c.inc(); return c.inc() }",
    sends: ["Counter"],
    returns: 2,
  },
  {
    name: "sends functions held in data",
    notebook: "var ops = { double: (x) => x * 2, offset: 1 }",
    job: "() => ops.double(20) + ops.offset",
    sends: ["ops"],
    returns: 41,
  },
  {
    name: "sends what functions held in data use",
    notebook: "var rate = 3; var calc = { apply: (x) => x * rate }",
    job: "() => calc.apply(2)",
    sends: ["calc", "rate"],
    returns: 6,
  },
  {
    name: "sends builtin functions held in data by name",
    notebook: "var tools = { max: Math.max, log: console.log }",
    job: "() => [tools.max(1, 5), tools.log === console.log]",
    sends: ["tools"],
    returns: [5, true],
  },
  {
    name: "sends a notebook function's own properties",
    notebook: "function memo() { return memo.calls } memo.calls = 7",
    job: "() => memo()",
    sends: ["memo"],
    returns: 7,
  },
  {
    name: "sends async notebook functions",
    notebook: "async function later(x) { return x * 2 }",
    job: "async () => await later(21)",
    sends: ["later"],
    returns: 42,
  },
  {
    name: "sends notebook generator functions",
    notebook: "function* twoSteps() { yield 1; yield 2 }",
    job: "() => [...twoSteps()]",
    sends: ["twoSteps"],
    returns: [1, 2],
  },
  {
    name: "sends notebook methods as functions",
    notebook:
      "var shop = { total(a, b) { return a + b } }; var addUp = shop.total",
    job: "() => addUp(40, 2)",
    sends: ["addUp"],
    returns: 42,
  },
  // Data.
  {
    name: "keeps cycles",
    notebook: "var ring = { name: 'r' }; ring.self = ring",
    job: "() => ring.self.self === ring",
    sends: ["ring"],
    returns: true,
  },
  {
    name: "keeps shared references shared",
    notebook: "var one = { v: 1 }; var holder = { a: one, b: one }",
    job: "() => holder.a === holder.b",
    sends: ["holder"],
    returns: true,
  },
  {
    name: "sends Map, Set, Date, RegExp and BigInt",
    notebook:
      "var mixed = { m: new Map([[1, 'a']]), s: new Set([2]), d: new Date(0), r: /x+/gi, b: 10n }",
    job:
      "() => [mixed.m.get(1), mixed.s.has(2), mixed.d.getTime(), mixed.r.flags, mixed.b + 1n]",
    sends: ["mixed"],
    returns: ["a", true, 0, "gi", 11n],
  },
  {
    name: "sends small and big typed arrays",
    notebook:
      "var small = new Int16Array([1, -2]); var wide = new Float64Array(200000).fill(0.5)",
    job:
      "() => [small[1], wide.length, wide[199999], wide instanceof Float64Array]",
    sends: ["small", "wide"],
    returns: [-2, 200000, 0.5, true],
  },
  {
    name: "sends errors with their cause",
    notebook:
      "var failure = new RangeError('outer', { cause: new Error('inner') })",
    job:
      "() => [failure instanceof RangeError, failure.message, failure.cause.message]",
    sends: ["failure"],
    returns: [true, "outer", "inner"],
  },
  {
    name: "sends an array of records as a table",
    notebook:
      "var rows = Array.from({ length: 100 }, (_, i) => ({ id: i, name: 'n' + i }))",
    job: "() => [rows.reduce((s, r) => s + r.id, 0), rows[7].name]",
    sends: ["rows"],
    returns: [4950, "n7"],
  },
  {
    name: "keeps a table row's identity",
    notebook:
      "var rowsB = Array.from({ length: 80 }, (_, i) => ({ i })); var firstRow = rowsB[0]",
    job: "() => rowsB[0] === firstRow",
    sends: ["firstRow", "rowsB"],
    returns: true,
  },
  {
    name: "keeps holes, -0 and NaN",
    notebook: "var odd = [-0, , NaN]",
    job:
      "() => [Object.is(odd[0], -0), 1 in odd, Number.isNaN(odd[2]), odd.length]",
    sends: ["odd"],
    returns: [true, false, true, 3],
  },
  // The code form (TypeScript).
  {
    name: "sends the names of a code expression",
    notebook: "var base2 = 2",
    job: "base2 * 21",
    code: true,
    sends: ["base2"],
    returns: 42,
  },
  {
    name: "ignores TypeScript annotations and casts",
    notebook: "var base3 = 4; var T = 'a type name'",
    job:
      "const x: number = base3 as number; export const y: T = x! satisfies number",
    code: true,
    sends: ["base3"],
    returns: { y: 4 },
  },
  {
    name: "ignores interfaces and type aliases",
    notebook: "var tn = 3; var Opts = 1",
    job:
      "interface Opts { n: number }\ntype Alias = Opts;\nconst o: Alias = { n: tn };\nexport const out = o.n",
    code: true,
    sends: ["tn"],
    returns: { out: 3 },
  },
  {
    name: "sends names an enum reads",
    notebook: "var base4 = 5",
    job:
      "enum Color { Red = base4, Green = Red + 1 }\nexport const g = Color.Green",
    code: true,
    sends: ["base4"],
    returns: { g: 6 },
  },
  {
    name: "ignores names a module imports",
    notebook: "var dirA = 'a'; var join = null",
    job: "import { join } from 'node:path';\nexport const p = join(dirA, 'b')",
    code: true,
    sends: ["dirA"],
    returns: { p: "a/b" },
  },
  {
    name: "ignores generic type arguments",
    notebook: "var gen1 = 8",
    job:
      "function id<T>(x: T): T { return x }\nexport const v = id<number>(gen1)",
    code: true,
    sends: ["gen1"],
    returns: { v: 8 },
  },
  {
    name: "sends a name a module declares ambient",
    notebook: "var ext1 = 1",
    job: "declare const ext1: number;\nexport const w = ext1 + 1",
    code: true,
    sends: ["ext1"],
    returns: { w: 2 },
  },
  {
    name: "sends names a namespace reads",
    notebook: "var ns1 = 'n'",
    job: "namespace NS { export const a = ns1 }\nexport const z = NS.a",
    code: true,
    sends: ["ns1"],
    returns: { z: "n" },
  },
  {
    name: "sends defaults of parameter properties",
    notebook: "var pp1 = 6",
    job:
      "class P { constructor(private v: number = pp1) {} get() { return this.v } }\nexport const r = new P().get()",
    code: true,
    sends: ["pp1"],
    returns: { r: 6 },
  },
  {
    name: "lets a module's own names shadow the notebook's",
    notebook: "var mod1 = 1",
    job: "const mod1 = 2;\nexport const r = mod1",
    code: true,
    sends: [],
    returns: { r: 2 },
  },
  {
    name: "ignores type-only imports",
    job:
      "import type { Foo } from './nowhere.ts';\nconst f: Foo | number = 1;\nexport const t = f",
    code: true,
    sends: [],
    returns: { t: 1 },
  },
  {
    name: "resolves relative imports against the notebook's folder",
    job:
      "import { TABLE_MIN } from './lib/codec/columns.ts';\nexport const min = TABLE_MIN + (await import('./lib/codec/columns.ts')).TABLE_MIN",
    code: true,
    sends: [],
    returns: { min: 128 },
    permissions: "inherit",
  },
  {
    name: "sends names decorators and using declarations read",
    notebook: "var tagged = []; var opened = 0",
    job:
      "function mark(value: unknown, context: ClassDecoratorContext) { tagged.push(context.name) }\n@mark class Marked {}\n{ using res = { [Symbol.dispose]() { opened++ } }; }\nexport const out = [tagged, opened]",
    code: true,
    sends: ["opened", "tagged"],
    returns: { out: [["Marked"], 1] },
  },
];

const globalEval = eval;

for (const c of CASES) {
  jobTest(`capture() ${c.name}`, async () => {
    const before = new Set(Object.getOwnPropertyNames(globalThis));
    try {
      if (c.notebook) globalEval(c.notebook);
      const work = c.code ? c.job : globalEval(`(${c.job}\n)`);
      const capture = c.code ? captureCode(work) : captureFunction(work);
      assert.deepEqual([...capture.names].sort(), [...c.sends].sort());
      const permissions = c.permissions ?? "none";
      const result = await job(work, { permissions });
      if ("returns" in c) assert.deepEqual(result, c.returns);
      c.check?.(result);
    } finally {
      const global = globalThis as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(globalThis)) {
        if (!before.has(name)) delete global[name];
      }
    }
  });
}

Deno.test("capture() knows every global of a fresh job runtime", async () => {
  const script = `const names = new Set();
    for (let o = globalThis; o; o = Object.getPrototypeOf(o)) {
      for (const k of Object.getOwnPropertyNames(o)) names.add(k);
    }
    console.log(JSON.stringify([...names]));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
  }).output();
  const fresh: string[] = JSON.parse(new TextDecoder().decode(out.stdout));
  const missing = fresh.filter((name) => !RUNTIME_GLOBALS.has(name));
  assert.deepEqual(missing, [], "regenerate lib/codec/runtime_globals.ts");
});

jobTest("capture tests leave no runtime behind", async () => {
  await jobs.shutdown();
});
