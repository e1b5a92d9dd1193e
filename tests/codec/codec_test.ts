/**
 * The codec: values round-trip with structured-clone semantics plus classes
 * and functions, through real frames; jobs send results and shared values
 * back through it; `job()` refuses what cannot travel before anything
 * starts, saying what, where, why and what to do.
 */
import assert from "node:assert/strict";
import { job, jobs, share } from "../../mod.ts";
import { encodeValue } from "../../lib/codec/encode.ts";
import { MISSING, type Packet } from "../../lib/codec/packet.ts";
import { analyzeFunction } from "../../lib/capture/analyze.ts";
import { captureFunction } from "../../lib/capture/capture.ts";
import { jobTest } from "../_util.ts";
import { roundTrip } from "../_codec.ts";

const global = globalThis as Record<string, unknown>;
const globalEval = eval;

Deno.test("codec round-trips Map, Set, Date, RegExp, BigInt and boxed values", async () => {
  const value = {
    m: new Map<unknown, unknown>([[1, "a"], [{ k: 1 }, new Set([2n])]]),
    d: new Date(12345),
    r: /a+b/gi,
    b: -(2n ** 70n),
    n: new Number(3),
    s: new String("s"),
  };
  assert.deepEqual(await roundTrip(value), value);
});

Deno.test("codec keeps cycles, shared references, holes, -0 and NaN", async () => {
  const shared = { v: 1 };
  const value: Record<string, unknown> = {
    a: shared,
    b: shared,
    list: [-0, , NaN],
  };
  value.self = value;
  const back = await roundTrip(value) as typeof value;
  assert.equal(back.self, back);
  assert.equal(back.a, back.b);
  const list = back.list as number[];
  assert.ok(Object.is(list[0], -0) && !(1 in list) && Number.isNaN(list[2]));
});

Deno.test("codec sends typed arrays raw and keeps views of one buffer together", async () => {
  const buffer = new ArrayBuffer(1 << 20);
  const value = {
    whole: new Float64Array(buffer),
    part: new Uint8Array(buffer, 8, 16),
    view: new DataView(buffer, 4, 8),
    small: new Int32Array([1, -1]),
  };
  value.whole[1] = 2.5;
  const packet = encodeValue(value, "result", {
    to: "notebook",
    resolve: () => MISSING,
    analyze: analyzeFunction,
  });
  assert.equal(packet.raw?.length, 1, "one attachment for the shared buffer");
  const back = await roundTrip(value) as typeof value;
  assert.equal(back.whole.buffer, back.part.buffer);
  assert.equal(back.whole.buffer, back.view.buffer);
  assert.deepEqual([...back.part.subarray(0, 8)], [
    ...new Uint8Array(new Float64Array([2.5]).buffer),
  ]);
  assert.deepEqual(back.small, new Int32Array([1, -1]));
});

Deno.test("codec keeps errors' type, message, stack, cause and own properties", async () => {
  class HttpError extends Error {
    constructor(message: string, readonly status: number) {
      super(message, { cause: new RangeError("inner") });
      this.name = "HttpError";
    }
  }
  {
    const error = new HttpError("not found", 404);
    const back = await roundTrip({
      error,
      plain: new TypeError("t"),
    }) as Record<string, Error>;
    // A class from elsewhere than the receiver arrives as a copy of it.
    assert.equal(back.error.constructor.name, "HttpError");
    assert.ok(back.error instanceof Error);
    assert.equal(back.error.name, "HttpError");
    assert.equal((back.error as HttpError).status, 404);
    assert.equal(back.error.stack, error.stack);
    assert.ok(back.error.cause instanceof RangeError);
    assert.ok(back.plain instanceof TypeError);
  }
});

Deno.test("codec sends arrays of records as columns and rebuilds them", async () => {
  const rows = Array.from({ length: 500 }, (_, i) => ({
    id: i,
    name: `n${i}`,
    ok: i % 2 === 0,
    maybe: i % 3 ? null : 1.5,
  }));
  const value = { rows, tenth: rows[10] };
  const back = await roundTrip(value) as typeof value;
  assert.deepEqual(back.rows, rows);
  assert.equal(back.tenth, back.rows[10], "a row seen twice stays one object");
});

Deno.test("codec keeps rows one object wherever else they are: twice in the table, before it, in another table", async () => {
  // No column rises or falls: the rows are checked for repeats one by one.
  const pairs = Array.from({ length: 40 }, (_, i) => ({ name: `r${i % 7}` }));
  const twice = [...pairs, ...pairs];
  const backTwice = await roundTrip(twice) as typeof twice;
  assert.deepEqual(backTwice, twice);
  assert.equal(backTwice[3], backTwice[43], "a row twice in the array");

  const rows = Array.from({ length: 100 }, (_, i) => ({ id: i, tag: "t" }));
  const value = {
    head: rows[3],
    rows,
    again: rows.slice().reverse(),
    tail: rows[99],
  };
  const back = await roundTrip(value) as typeof value;
  assert.deepEqual(back, value);
  assert.equal(back.head, back.rows[3], "met before the table");
  assert.equal(back.again[0], back.rows[99], "a row of an earlier table");
  assert.equal(back.tail, back.rows[99], "met after the table");
});

Deno.test("codec sends a big table in chunks: rows, row references and repeats come back as they were", async () => {
  const rows = Array.from({ length: 30_000 }, (_, i) => ({
    url: `https://example.com/${i}`,
    n: i,
    ok: i % 3 === 0,
    maybe: i % 5 ? null : "five",
    big: i === 7 ? 2n ** 70n : i,
  }));
  const value = { rows, first: rows[0], last: rows[29_999] };
  const back = await roundTrip(value) as typeof value;
  assert.deepEqual(back, value);
  assert.equal(back.first, back.rows[0]);
  assert.equal(back.last, back.rows[29_999]);
  // No column rises or falls: repeats are looked for, and kept.
  const flat = Array.from({ length: 10_000 }, (_, i) => ({ k: i % 10 }));
  flat[9_999] = flat[0];
  const backFlat = await roundTrip(flat) as typeof flat;
  assert.deepEqual(backFlat, flat);
  assert.equal(backFlat[9_999], backFlat[0]);
  // Objects in a column: sent in one piece, as before.
  const nested = Array.from({ length: 9_000 }, (_, i) => ({ at: { i } }));
  assert.deepEqual(await roundTrip(nested), nested);
  // Strings of every kind in a column of strings (joined as they travel).
  const kinds = ["", "é", "\ud800", "😀", "a\u0000b", "x".repeat(300)];
  const texts = Array.from({ length: 20_000 }, (_, i) => ({
    t: kinds[i % kinds.length] + i,
    e: "",
  }));
  assert.deepEqual(await roundTrip(texts), texts);
});

Deno.test("codec keeps a big array's named properties, however they are hidden from a quick look", async () => {
  const rows = () =>
    Array.from({ length: 5_000 }, (_, i) => ({ n: i, s: `r${i}` }));
  // As d3's csvParse makes them: rows, and the columns' names.
  const parsed = Object.assign(rows(), { columns: ["n", "s"] });
  assert.deepEqual(await roundTrip(parsed), parsed);
  // Inspection made to show nothing by the array's own code.
  const custom = Object.assign(rows(), { hidden: 1 });
  Object.assign(custom, {
    [Symbol.for("Deno.customInspect")]: () => "[ ... 5000 more items ]",
  });
  assert.equal((await roundTrip(custom) as typeof custom).hidden, 1);
  // A proxy inspected as its target, which lacks the key its traps add.
  const proxy = new Proxy(rows(), {
    ownKeys: (t) => [...Reflect.ownKeys(t), "extra"],
    getOwnPropertyDescriptor: (t, k) =>
      k === "extra"
        ? { value: 1, enumerable: true, configurable: true, writable: true }
        : Reflect.getOwnPropertyDescriptor(t, k),
    get: (t, k, r) => k === "extra" ? 1 : Reflect.get(t, k, r),
  });
  assert.equal((await roundTrip(proxy) as { extra?: number }).extra, 1);
  // Not an index, though all digits: a name (2 ** 32 - 1).
  const past = Object.assign(rows(), { "4294967295": 7 });
  assert.equal((await roundTrip(past) as typeof past)["4294967295"], 7);
  // And none where there are none.
  const plain = rows();
  const back = await roundTrip(plain) as typeof plain;
  assert.deepEqual(back, plain);
  assert.equal(Object.keys(back).length, 5_000);
});

Deno.test("codec sends functions as source with the values they use", async () => {
  const packet = encodeValue({ scale: (x: number) => x * 3 }, "result", {
    to: "notebook",
    resolve: () => MISSING,
    analyze: analyzeFunction,
  });
  assert.equal(packet.fns?.length, 1);
  const back = await roundTrip({
    f: function named(a: number): number {
      return a + 1;
    },
  }) as {
    f: (a: number) => number;
  };
  assert.equal(back.f(1), 2);
  assert.equal(back.f.name, "named");
});

Deno.test("codec refuses symbols, naming the path", async () => {
  await assert.rejects(
    () => roundTrip({ a: [1, { s: Symbol("x") }] }),
    {
      name: "TypeError",
      message:
        'Cannot send "result.a[1].s" to the notebook: it is a symbol, which cannot be copied to another process; use a string',
    },
  );
});

// Jobs: what comes back.

jobTest(
  "job() returns an instance of a notebook class as that class",
  async () => {
    globalEval(
      "var Money = class Money { constructor(c) { this.cents = c } add(o) { return new Money(this.cents + o.cents) } }",
    );
    try {
      const Money = global.Money as new (c: number) => { cents: number };
      const work = globalEval("(() => new Money(2).add(new Money(3)))");
      const result = await job(work as () => { cents: number });
      assert.ok(result instanceof Money);
      assert.equal(result.cents, 5);
    } finally {
      delete global.Money;
    }
  },
);

jobTest(
  "job() gives back the notebook's own function, and new functions that work",
  async () => {
    globalEval("function square(x) { return x * x }");
    try {
      const fn = globalEval(
        "(() => ({ square, cube: (x) => x * square(x), Made: class Made { v() { return 9 } } }))",
      );
      const result = await job(fn) as {
        square: unknown;
        cube: (x: number) => number;
        Made: new () => { v(): number };
      };
      assert.equal(result.square, global.square);
      assert.equal(result.cube(3), 27);
      assert.equal(new result.Made().v(), 9);
    } finally {
      delete global.square;
    }
  },
);

jobTest(
  "a big table travels in chunks both ways: a job gets the notebook's, returns and shares its own",
  async () => {
    global.bigTable = Array.from({ length: 50_000 }, (_, i) => ({
      id: i,
      name: `n${i}`,
    }));
    try {
      const work = globalEval(`(() => {
        share("doubled", bigTable.map((r) => ({ id: r.id * 2, name: r.name })));
        const rows = bigTable.map((r) => ({ url: "https://example.com/" + r.id, n: r.id }));
        return { rows, same: bigTable[123] === bigTable[123], sum: bigTable.reduce((a, r) => a + r.id, 0) };
      })`);
      const j = job(work as () => unknown);
      const back = await j as {
        rows: { url: string; n: number }[];
        same: boolean;
        sum: number;
      };
      assert.equal(back.sum, (50_000 * 49_999) / 2, "the job got every row");
      assert.equal(back.rows.length, 50_000);
      assert.deepEqual(back.rows[49_999], {
        url: "https://example.com/49999",
        n: 49_999,
      });
      const doubled = j.exports.doubled as { id: number; name: string }[];
      assert.deepEqual(doubled[777], { id: 1554, name: "n777" });
    } finally {
      delete global.bigTable;
    }
  },
);

jobTest(
  "a job's big table comes back with its named properties, and a plain one with none",
  async () => {
    const back = await job(() => {
      const rows = () =>
        Array.from({ length: 10_000 }, (_, i) => ({ id: i, name: `r${i}` }));
      return {
        parsed: Object.assign(rows(), { columns: ["id", "name"] }),
        plain: rows(),
      };
    }) as {
      parsed: { id: number }[] & { columns: string[] };
      plain: { id: number }[];
    };
    assert.deepEqual(back.parsed.columns, ["id", "name"]);
    assert.equal(back.parsed.length, 10_000);
    assert.deepEqual(back.parsed[9_999], { id: 9_999, name: "r9999" });
    assert.equal(back.plain.length, 10_000);
    assert.equal(Object.keys(back.plain).length, 10_000, "no names added");
    assert.deepEqual(back.plain[9_999], { id: 9_999, name: "r9999" });
  },
);

jobTest(
  "a big result whose rows the job changes while it is sent arrives whole and consistent",
  async () => {
    const back = await job(() => {
      const rows: Record<string, unknown>[] = Array.from(
        { length: 200_000 },
        (_, i) => ({ url: `https://example.com/${i}`, n: i }),
      );
      // Runs once the result is being written, before its last chunk is taken.
      setTimeout(() => rows[199_999] = { changed: true }, 0);
      return rows;
    }) as Record<string, unknown>[];
    assert.equal(back.length, 200_000);
    assert.deepEqual(back[123_456], {
      url: "https://example.com/123456",
      n: 123_456,
    });
    const last = back[199_999];
    assert.ok(
      last.changed === true || last.n === 199_999,
      `the last row is the old one or the new one: ${JSON.stringify(last)}`,
    );
  },
);

jobTest("job() brings shared values back through the codec", async () => {
  const j = job(() => {
    share("when", new Date(7));
    share("fn", (x: number) => x + 1);
    return 1;
  });
  await j;
  assert.deepEqual(j.exports.when, new Date(7));
  assert.equal((j.exports.fn as (x: number) => number)(1), 2);
});

jobTest(
  "job() fails with the thrown error as cause: its class, properties and cause chain",
  async () => {
    globalEval(
      "var HttpError = class HttpError extends Error { constructor(m, status) { super(m, { cause: new RangeError('deep') }); this.name = 'HttpError'; this.status = status } }",
    );
    try {
      const HttpError = global.HttpError as new () => Error;
      const j = job(globalEval("(() => { throw new HttpError('nope', 404) })"));
      await assert.rejects(() => Promise.resolve(j), (error: Error) => {
        assert.equal(error.name, "JobError");
        const cause = error.cause as Error & { status: number };
        assert.ok(cause instanceof HttpError);
        assert.equal(cause.status, 404);
        assert.match(cause.stack ?? "", /^HttpError: nope\n {4}at <job>:1:/);
        assert.ok(cause.cause instanceof RangeError);
        return true;
      });
    } finally {
      delete global.HttpError;
    }
  },
);

jobTest(
  "job() fails when a returned function uses its maker's variables",
  async () => {
    const j = job(() => {
      const k = 3;
      return { times: (x: number) => x * k };
    });
    await assert.rejects(() => Promise.resolve(j), (error: Error) => {
      assert.match(
        error.message,
        /Cannot send "result\.times" to the notebook: it uses "k", a variable of the function that made it, which cannot be read from outside; return plain data, or define the function and what it uses at the top level of a code job$/,
      );
      return true;
    });
  },
);

jobTest("job() fails with the path when a result cannot be sent", async () => {
  const j = job(async () => ({ ok: 1, conn: await Deno.open("/dev/null") }));
  await assert.rejects(() => Promise.resolve(j), (error: Error) => {
    assert.match(
      error.message,
      /Cannot send "result\.conn" to the notebook: Deno\.FsFile is not serializable; open it in the notebook/,
    );
    return true;
  });
});

// A job's runtime is not trusted: a packet it crafts cannot make the
// notebook run code while the packet is read.

const CRAFTED: [string, Record<string, unknown>, RegExp][] = [
  ["code with a side effect", {
    fns: [{ s: "(globalThis.pwned = 1, () => 1)" }],
  }, /does more than define a function or class/],
  ["a class with a static block", {
    fns: [{ s: "class X { static { globalThis.pwned = 1 } }" }],
  }, /does more than define/],
  ["a class with a computed static field", {
    fns: [{ s: "class X { static v = (globalThis.pwned = 1) }" }],
  }, /does more than define/],
  ["a static field made by a function it sent", {
    ns: new Map([["Map", {}]]),
    fns: [{ s: "class X { static v = new Map() }" }],
  }, /does more than define/],
  ["a name that is not an identifier", {
    ns: new Map([["a = (globalThis.pwned = 1), b", 1]]),
    fns: [{ s: "function f() {}" }],
  }, /not an identifier/],
];

for (const [what, fields, error] of CRAFTED) {
  Deno.test(`the notebook refuses to run ${what} sent by a job`, () => {
    const capture = captureFunction(() => 1);
    const ph = {};
    const packet = { v: ph, subs: [ph, 0, 0], ...fields };
    assert.throws(() => capture.receive(packet as Packet), error);
    assert.equal(global.pwned, undefined);
  });
}

Deno.test("the notebook refuses a view type that is not a typed array", () => {
  const ph = {};
  const packet = {
    v: ph,
    subs: [ph, 2, [0, "Worker", 0, 1]],
    raw: [new Uint8Array(8)],
  };
  assert.throws(
    () => captureFunction(() => 1).receive(packet),
    /Unknown view type Worker/,
  );
});

// Refusals: job() throws before anything starts.

interface Refusal {
  what: string;
  /** Defines the notebook names, as globals. */
  notebook?: () => unknown;
  /** The job's source (evaluated at global scope), or a function. */
  job: string | (() => unknown);
  /** The whole message, or (`…` first) a part of it. */
  message: string;
}

const REFUSALS: Refusal[] = [
  {
    what: "a Deno listener, with its path",
    notebook: () =>
      global.config = { db: { socket: Deno.listen({ port: 0 }) } },
    job: "() => config.db",
    message:
      'Cannot send "config.db.socket" to a job: Deno.Listener is not serializable; open it inside the job',
  },
  {
    what: "an open file",
    notebook: () => global.file = Deno.openSync("/dev/null"),
    job: "() => file",
    message:
      'Cannot send "file" to a job: Deno.FsFile is not serializable; open it inside the job',
  },
  {
    what: "a bound function",
    notebook: () => global.now = Date.now.bind(Date),
    job: "() => now()",
    message:
      'Cannot send "now" to a job: it is a bound function, whose code cannot be sent; call bind() inside the job',
  },
  {
    what: "an unknown native function",
    notebook: () =>
      global.hostOf =
        Object.getOwnPropertyDescriptor(Map.prototype, "size")!.get,
    job: "() => hostOf",
    message:
      'Cannot send "hostOf" to a job: it is a native function, whose code cannot be sent; call it inside the job',
  },
  {
    what: "an imported module",
    notebook: async () => global.nodePath = await import("node:path"),
    job: "() => nodePath.join('a')",
    message:
      'Cannot send "nodePath" to a job: it is an imported module; import it inside the job with await import(), or use the code form, job(`…`), with an import',
  },
  {
    what: "a function imported from a module",
    notebook: async () => global.joinPath = (await import("node:path")).join,
    job: "() => joinPath('a', 'b')",
    message: '…Cannot send "joinPath" to a job: it uses "',
  },
  {
    what: "a variable of an enclosing function",
    job: ((n: number) => () => n * 2)(1),
    message:
      'Cannot send "n" to a job: it is not a notebook top-level name (a variable of an enclosing function, or not defined); make it a top-level variable of the notebook, or compute it inside the job',
  },
  {
    what: "a symbol",
    notebook: () => global.sym = Symbol("s"),
    job: "() => sym",
    message:
      'Cannot send "sym" to a job: it is a symbol, which cannot be copied to another process; use a string',
  },
  {
    what: "a WeakMap",
    notebook: () => global.cache = { seen: new WeakMap() },
    job: "() => cache",
    message:
      'Cannot send "cache.seen" to a job: a WeakMap cannot be copied (what it holds is not enumerable); use a Map or plain data',
  },
  {
    what: "a WeakRef",
    notebook: () => global.ref = new WeakRef({}),
    job: "() => ref",
    message:
      'Cannot send "ref" to a job: a WeakRef cannot be copied (what it holds is not enumerable); use a Map or plain data',
  },
  {
    what: "a promise",
    notebook: () => {
      global.pending = new Promise(() => {});
    },
    job: "() => pending",
    message:
      'Cannot send "pending" to a job: it is a promise; await it in the notebook first and send the value',
  },
  {
    what: "an instance with private fields",
    notebook: () =>
      globalEval(
        "var Vault = class Vault { #key = 1 }; var vault = new Vault()",
      ),
    job: "() => vault",
    message:
      'Cannot send "vault" to a job: instances of Vault have private members (#key), which cannot be copied; send plain data and build the Vault on the other side',
  },
  {
    what: "an instance of a class made inside a function",
    notebook: () => {
      const Scaled = (() => {
        const k = 2;
        return class Scaled {
          v = k;
        };
      })();
      global.scaled = new Scaled();
    },
    job: "() => scaled.v",
    message:
      'Cannot send "scaled" to a job: it is a Scaled, which is not serializable (its class uses "k", which the notebook does not have at its top level); send plain data and build the Scaled inside the job',
  },
  {
    what: "a builtin object that cannot be copied",
    notebook: () => global.headers = { auth: new Headers({ a: "b" }) },
    job: "() => headers",
    message:
      'Cannot send "headers.auth" to a job: it is a Headers, which is not serializable; send plain data and build the Headers inside the job',
  },
  {
    what: "a SharedArrayBuffer view",
    notebook: () => global.sab = new Int32Array(new SharedArrayBuffer(8)),
    job: "() => sab",
    message:
      'Cannot send "sab" to a job: a SharedArrayBuffer cannot be shared with another process; copy it into an ArrayBuffer',
  },
  {
    what: "what a notebook function uses",
    notebook: () => {
      global.sock2 = Deno.listen({ port: 0 });
      globalEval("var serve2 = function serve2() { return sock2.addr }");
    },
    job: "() => serve2()",
    message:
      'Cannot send "sock2" (used by "serve2") to a job: Deno.Listener is not serializable; open it inside the job',
  },
];

for (const refusal of REFUSALS) {
  jobTest(`job() refuses ${refusal.what} before anything starts`, async () => {
    const before = new Set(Object.getOwnPropertyNames(globalThis));
    const count = jobs.list().length;
    try {
      await refusal.notebook?.();
      const work = typeof refusal.job === "string"
        ? globalEval(`(${refusal.job}\n)`)
        : refusal.job;
      assert.throws(() => job(work), (error: Error) => {
        assert.equal(error.name, "TypeError");
        if (refusal.message.startsWith("…")) {
          assert.ok(
            error.message.startsWith(refusal.message.slice(1)),
            error.message,
          );
        } else assert.equal(error.message, refusal.message);
        return true;
      });
      assert.equal(jobs.list().length, count, "nothing was registered");
    } finally {
      for (const name of Object.getOwnPropertyNames(globalThis)) {
        if (!before.has(name)) closeAndDelete(name);
      }
    }
  });
}

function closeAndDelete(name: string): void {
  const value = global[name] as Record<string, unknown> | undefined;
  for (
    const v of [value, (value as { db?: { socket?: unknown } })?.db?.socket]
  ) {
    try {
      (v as { close?: () => void })?.close?.();
    } catch { /* not a resource */ }
  }
  delete global[name];
}

jobTest("codec tests leave no runtime behind", async () => {
  await jobs.shutdown();
});
