/**
 * The notebook namespace in a real `deno jupyter` kernel: jobs get the
 * notebook's top-level names (cells' `const`, `let`, functions, classes),
 * code jobs' exports land in it, and `job()` refuses, in the cell, what
 * cannot be sent.
 */
import assert from "node:assert/strict";
import { type Kernel, startBgjobsKernel } from "../_kernel.ts";

/** Runs a cell that ends by printing one JSON value; returns that value. */
async function value(k: Kernel, code: string): Promise<unknown> {
  const cell = await k.execute(code);
  assert.equal(cell.status, "ok", cell.describe());
  const line = cell.stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(line);
}

/** The TypeError `job()` throws in a cell, and how many jobs it added. */
function refusal(code: string): string {
  return `{
    const before = jobs.list().length;
    let error;
    try { ${code} } catch (e) { error = e }
    console.log(JSON.stringify([error?.name, error?.message, jobs.list().length - before]));
  }`;
}

Deno.test("the notebook namespace in a real kernel", async (t) => {
  await using k = await startBgjobsKernel();
  const setup = await k.execute(`
    import { job, jobs, progress, share } from "./mod.ts";
    const base = 40;
    let counter = 1;
    const fixed = "notebook";
    const prompt = "a notebook name that shadows a global";
    function helper(x) { return x + base }
    class Pt {
      constructor(x) { this.x = x }
      double() { return new Pt(this.x * 2) }
    }
  `);
  assert.equal(setup.status, "ok", setup.describe());

  await t.step(
    "a job uses cells' const, let, function, class and a shadowed global",
    async () => {
      assert.deepEqual(
        await value(
          k,
          `
        const r1 = await job(() => [helper(2), counter, new Pt(3).double().x, prompt]);
        console.log(JSON.stringify(r1));
      `,
        ),
        [42, 1, 6, "a notebook name that shadows a global"],
      );
    },
  );

  await t.step(
    "a notebook function calling progress() and share() reports from the job",
    async () => {
      assert.deepEqual(
        await value(
          k,
          `
        function work(n) {
          for (let i = 1; i <= n; i++) progress(i, n);
          share("half", n / 2);
          return n;
        }
        work(2); // in the notebook, both do nothing
        const jw = job(() => work(4));
        await jw;
        console.log(JSON.stringify([await jw, jw.progress, jw.exports.half]));
      `,
        ),
        [4, { done: 4, total: 4 }, 2],
      );
    },
  );

  await t.step(
    "an instance of a notebook class comes back as that class",
    async () => {
      assert.deepEqual(
        await value(
          k,
          `
        const back = await job(() => new Pt(5).double());
        console.log(JSON.stringify([back instanceof Pt, back.x]));
      `,
        ),
        [true, 10],
      );
    },
  );

  await t.step("a code job's exports land in the notebook", async () => {
    assert.deepEqual(
      await value(
        k,
        `
        const ex = job(\`
          const k: number = 2;
          export const fresh = base + 1;
          export const counter = 10;
          export const fixed = "job";
          export function twice(x: number): number { return x * k }
          export class Box { constructor(public v: number) {} }
        \`);
        await ex;
        console.log(JSON.stringify([ex.status, ex.warnings, ex.exports.fixed]));
      `,
      ),
      [
        "completed",
        [
          'Export "fixed" was not written to the notebook: "fixed" is a const there; use job.exports.fixed',
        ],
        "job",
      ],
    );
    assert.deepEqual(
      await value(
        k,
        "console.log(JSON.stringify([fresh, counter, fixed, twice(21), new Box(3).v]))",
      ),
      [41, 10, "notebook", 42, 3],
    );
  });

  await t.step("a later job sees names an earlier job exported", async () => {
    assert.deepEqual(
      await value(
        k,
        "console.log(JSON.stringify(await job(() => twice(fresh))))",
      ),
      82,
    );
  });

  const refusals: [string, string, string][] = [
    [
      "a socket, with its path",
      "const sock = Deno.listen({ port: 0 }); const config = { db: { socket: sock } };",
      'Cannot send "config.db.socket" to a job: Deno.Listener is not serializable; open it inside the job',
    ],
    [
      "an open file",
      "const file = await Deno.open('./deno.json');",
      'Cannot send "file" to a job: Deno.FsFile is not serializable; open it inside the job',
    ],
    [
      "a bound function",
      "const stamp = Date.now.bind(Date);",
      'Cannot send "stamp" to a job: it is a bound function, whose code cannot be sent; call bind() inside the job',
    ],
    [
      "an imported module namespace",
      'import * as nodePath from "node:path";',
      'Cannot send "nodePath" to a job: it is an imported module; import it inside the job with await import(), or use the code form, job(`…`), with an import',
    ],
    [
      "an imported function",
      'import { join } from "node:path";',
      'Cannot send "join" to a job: it uses "',
    ],
    [
      "a symbol",
      'const tag = Symbol("t");',
      'Cannot send "tag" to a job: it is a symbol, which cannot be copied to another process; use a string',
    ],
    [
      "a WeakMap",
      "const seen = new WeakMap();",
      'Cannot send "seen" to a job: a WeakMap cannot be copied (what it holds is not enumerable); use a Map or plain data',
    ],
    [
      "a WeakRef",
      "const weak = new WeakRef({});",
      'Cannot send "weak" to a job: a WeakRef cannot be copied (what it holds is not enumerable); use a Map or plain data',
    ],
    [
      "a promise",
      "const later = new Promise(() => {});",
      'Cannot send "later" to a job: it is a promise; await it in the notebook first and send the value',
    ],
    [
      "an instance with private fields",
      "class Safe { #key = 1; get() { return this.#key } } const safe = new Safe();",
      'Cannot send "safe" to a job: instances of Safe have private members (#key), which cannot be copied; send plain data and build the Safe on the other side',
    ],
  ];
  const uses: Record<string, string> = {
    "a socket, with its path": "job(() => config.db)",
    "an open file": "job(() => file)",
    "a bound function": "job(() => stamp())",
    "an imported module namespace": 'job(() => nodePath.join("a"))',
    "an imported function": 'job(() => join("a", "b"))',
    "a symbol": "job(() => tag)",
    "a WeakMap": "job(() => seen)",
    "a WeakRef": "job(() => weak)",
    "a promise": "job(() => later)",
    "an instance with private fields": "job(() => safe.get())",
  };
  for (const [what, define, message] of refusals) {
    await t.step(
      `job() refuses ${what} in the cell, starting nothing`,
      async () => {
        const defined = await k.execute(define);
        assert.equal(defined.status, "ok", defined.describe());
        const [name, text, added] = await value(k, refusal(uses[what])) as [
          string,
          string,
          number,
        ];
        assert.equal(name, "TypeError");
        if (message.endsWith('"')) assert.ok(text.startsWith(message), text);
        else assert.equal(text, message);
        assert.equal(added, 0);
      },
    );
  }

  await t.step(
    "job() refuses a variable of an enclosing function",
    async () => {
      const [name, text, added] = await value(
        k,
        refusal("function launch(n) { return job(() => n * 2) } launch(2);"),
      ) as [string, string, number];
      assert.equal(name, "TypeError");
      assert.equal(
        text,
        'Cannot send "n" to a job: it is not a notebook top-level name (a variable of an enclosing function, or not defined); make it a top-level variable of the notebook, or compute it inside the job',
      );
      assert.equal(added, 0);
    },
  );

  await k.execute("sock.close(); file.close(); await jobs.shutdown();");
});
