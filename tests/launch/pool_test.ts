import assert from "node:assert/strict";
import { type Job, job, jobs, share } from "../../mod.ts";
import { localPool as runtimePool } from "../../lib/engine/backend.ts";
import { eventually } from "../_procs.ts";
import { jobTest, withoutWarm } from "../_util.ts";

const sleep = (ms: number): Promise<void> =>
  new Promise((r) => setTimeout(r, ms));

/** Items that each take `ms` of busy CPU and say which runtime ran them. */
function busyItems(count: number, ms: number): Job<number[]> {
  return jobs.map(Array(count).fill(ms), (wait: number) => {
    const end = performance.now() + wait;
    while (performance.now() < end) { /* busy */ }
    return Deno.pid;
  }, { concurrency: 2 });
}

jobTest(
  "the pool starts nothing in the background while a map runs",
  async () => {
    const pool = runtimePool();
    await job(() => 0); // the pool starts with the first job
    await eventually(() => !pool.held, 5_000);
    await sleep(500); // its refill is up
    const before = pool.stats;
    const m = busyItems(4, 150);
    await eventually(() => m.status === "running", 10_000);
    assert.ok(pool.held, "the map holds the pool");
    await sleep(200);
    assert.equal(
      pool.stats.started - before.started,
      1,
      "only the map's second runtime was started, no refill",
    );
    assert.equal(pool.stats.reused - before.reused, 1, "one lane was warm");
    const pids = await m;
    assert.equal(new Set(pids).size, 2, "the map used concurrency runtimes");
    assert.ok(!pool.held, "released when the map ended");
    assert.equal(pool.target, 2, "the pool now keeps as many as the map used");
    assert.ok(
      await eventually(() => pool.stats.started - before.started === 3, 5_000),
      "and refilled to two runtimes after the map",
    );
  },
);

jobTest("a map right after a map finds every lane warm", async () => {
  const pool = runtimePool();
  await busyItems(2, 10);
  await sleep(800); // the refill to two runtimes is up
  const before = pool.stats;
  const pids = await busyItems(4, 50);
  assert.equal(new Set(pids).size, 2);
  assert.equal(pool.stats.reused - before.reused, 2, "both lanes were warm");
});

jobTest("a map with more lanes than cores uses them all", async () => {
  const pids = await jobs.map([0, 1, 2, 3, 4, 5], async (i: number) => {
    share(`pid${i}`, Deno.pid);
    await new Promise((r) => setTimeout(r, 200));
    return Deno.pid;
  }, { concurrency: 3 });
  assert.equal(new Set(pids).size, 3);
});

jobTest("warm 0 keeps nothing, even after a map", async () => {
  const pool = runtimePool();
  await withoutWarm(async () => {
    assert.equal(pool.target, 0);
    const before = pool.stats.started;
    await busyItems(2, 10);
    await sleep(300);
    assert.equal(pool.stats.started - before, 2, "only the map's own starts");
  });
});

jobTest("pool tests leave no runtime behind", async () => {
  await jobs.shutdown();
});
