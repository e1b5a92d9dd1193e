import assert from "node:assert/strict";
import { JobError, JobKilledError, jobs, share } from "../../mod.ts";
import { eventually, isAlive } from "../_procs.ts";
import { jobTest } from "../_util.ts";

jobTest(
  "jobs.map() returns results in item order with overall progress",
  async () => {
    const items = Array.from({ length: 10_000 }, (_, i) => i);
    const m = jobs.map(items, (x, i) => x * 2 + i);
    const results = await m;
    assert.equal(results.length, 10_000);
    assert.ok(results.every((r, i) => r === 3 * i));
    assert.deepEqual(m.progress, { done: 10_000, total: 10_000 });
    assert.equal(m.status, "completed");
    assert.match(m.name, /^map .* × 10000$/);
  },
);

jobTest("jobs.map() spreads items over several runtimes", async () => {
  const pids = await jobs.map(
    Array.from({ length: 8 }, (_, i) => i),
    async () => {
      await new Promise((r) => setTimeout(r, 100));
      return Deno.pid;
    },
    { concurrency: 2 },
  );
  assert.equal(new Set(pids).size, 2);
});

jobTest(
  "jobs.map() runs async items of a chunk concurrently and keeps order",
  async () => {
    const t0 = performance.now();
    const out = await jobs.map([300, 200, 100, 0], async (ms) => {
      await new Promise((r) => setTimeout(r, ms));
      return ms;
    }, { concurrency: 1 });
    assert.deepEqual(out, [300, 200, 100, 0]);
    assert.ok(performance.now() - t0 < 2000);
  },
);

jobTest("a failing item fails the map and names its index", async () => {
  const m = jobs.map([1, 2, 3, 4, 5, 6], (x) => {
    if (x === 4) throw new RangeError("four is bad");
    return x;
  });
  assert.equal(await m.done, "failed");
  assert.ok(m.error instanceof JobError);
  assert.match(m.error.message, /failed at item 3: RangeError: four is bad/);
});

jobTest("kill() stops every runtime of a map", async () => {
  const m = jobs.map([0, 1, 2, 3], (i) => {
    share(`pid${i}`, Deno.pid);
    while (true) { /* spin */ }
  }, { concurrency: 2 });
  const pids = () => Object.values(m.exports) as number[];
  assert.ok(
    await eventually(() => pids().length === 2, 10_000),
    "two runtimes spin",
  );
  assert.ok(pids().every(isAlive));
  await m.kill();
  assert.equal(m.status, "killed");
  assert.ok(pids().every((p) => !isAlive(p)));
  await assert.rejects(Promise.resolve(m), JobKilledError);
});

jobTest("jobs.map() over no items completes with an empty array", async () => {
  assert.deepEqual(await jobs.map([], (x: number) => x), []);
  assert.deepEqual(await jobs.map(new Set([1, 2]), (x) => x + 1), [2, 3]);
});

jobTest("jobs.map() refuses bad input before starting anything", () => {
  const before = jobs.list().length;
  assert.throws(() => jobs.map(42 as never, (x) => x), TypeError);
  assert.throws(() => jobs.map([1], "x" as never), TypeError);
  assert.throws(() => jobs.map([1], (x) => x, { concurrency: 0 }), RangeError);
  assert.throws(
    () => jobs.map([1, Symbol("s")], (x) => x),
    /Cannot send "items\[1\]" to a job: it is a symbol/,
  );
  assert.equal(jobs.list().length, before);
  return Promise.resolve();
});

jobTest("map tests leave no runtime behind", async () => {
  await jobs.shutdown();
});
