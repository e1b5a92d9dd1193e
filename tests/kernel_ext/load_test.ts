/**
 * Load in a real `deno jupyter` kernel: 1,000 jobs submitted from one cell
 * under `maxRunning: 4` all complete with the right results, none lost or
 * duplicated, the registry's counts add up, and after `jobs.flush()` the
 * kernel's memory is back near where it started.
 */
import assert from "node:assert/strict";
import { type Kernel, startBgjobsKernel } from "../_kernel.ts";

const JOBS = 1000;
const MAX_RUNNING = 4;
/** Allowed growth of the kernel's RSS over its baseline after flush + GC. */
const MEMORY_SLACK_MB = 100;
/** Jobs watched with a WeakRef to see that flushed jobs become garbage. */
const SAMPLED = JSON.stringify([0, JOBS / 2, JOBS - 1]);

/** Runs a cell that ends by printing one JSON value; returns that value. */
async function value<T>(k: Kernel, code: string, timeout?: number): Promise<T> {
  const cell = await k.execute(code, { timeout });
  assert.equal(cell.status, "ok", cell.describe());
  const line = cell.stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(line);
}

/** Resident memory of a process in MB, from /proc. */
function rssMB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024;
}

/** Collects garbage in the kernel; returns its JS heap in use, in MB. */
function collect(k: Kernel): Promise<number> {
  return value(
    k,
    `gc(); await new Promise((r) => setTimeout(r, 300)); gc();
    console.log(Deno.memoryUsage().heapUsed / 2 ** 20)`,
  );
}

/**
 * Waits up to `ms` for the kernel's RSS to fall under `bound` MB: V8 gives
 * freed pages back to the system only after the kernel has been idle a
 * while (~15 s here). Returns the last RSS and how long that took.
 */
async function rssFallsUnder(
  pid: number,
  bound: number,
  ms: number,
): Promise<{ rss: number; waited: number }> {
  const start = Date.now();
  let rss = rssMB(pid);
  while (rss >= bound && Date.now() - start < ms) {
    await new Promise((r) => setTimeout(r, 1000));
    rss = rssMB(pid);
  }
  return { rss, waited: Date.now() - start };
}

Deno.test(`${JOBS} jobs from one cell with maxRunning ${MAX_RUNNING}: all complete, none lost, memory comes back`, async () => {
  await using k = await startBgjobsKernel({
    env: { DENO_V8_FLAGS: "--expose-gc" },
    timeout: 300_000,
    // Cells here run beside 1,000 panels' updates, which the Deno kernel may
    // publish ahead of a cell's output after its idle status.
    linger: 1000,
  });
  const { pid, gc } = await value<{ pid: number; gc: string }>(
    k,
    `import { job, jobs } from "./mod.ts";
    console.log(JSON.stringify({ pid: Deno.pid, gc: typeof gc }))`,
  );
  assert.equal(gc, "function", "DENO_V8_FLAGS=--expose-gc reached the kernel");

  // Baseline: everything a job touches (panels, pool, codec) already loaded.
  await value(
    k,
    `await Promise.all(Array.from({ length: 20 }, (_, i) => job(\`\${i}\`)));
    jobs.flush();
    console.log("1")`,
  );
  const baseHeap = await collect(k);
  const baseline = rssMB(pid);

  let peakRss = baseline;
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, rssMB(pid));
    } catch { /* the kernel died: the cells say so */ }
  }, 200);
  const t0 = Date.now();
  const submit = await k.execute(`
    jobs.configure({ maxRunning: ${MAX_RUNNING} });
    globalThis.peak = 0;
    globalThis.sampler = setInterval(
      () => peak = Math.max(peak, jobs.running.length), 5);
    globalThis.load = Array.from({ length: ${JOBS} }, (_, i) => job(\`\${i} * 3 + 1\`));
    globalThis.refs = ${SAMPLED}.map((i) => new WeakRef(load[i]));
    load.length`);
  assert.equal(submit.status, "ok", submit.describe());
  // Its value follows 1,000 panels and may come well after its idle status
  // on a slow machine: wait for it by its execution count.
  const count = submit.reply?.execution_count;
  await k.waitFor((m) =>
    m.msgType === "execute_result" && m.content.execution_count === count
  );
  assert.equal(submit.text, String(JOBS));

  const outcome = await value<Record<string, unknown>>(
    k,
    `const results = await Promise.all(load);
    clearInterval(sampler);
    console.log(JSON.stringify({
      wrong: results.flatMap((r, i) => r === i * 3 + 1 ? [] : [[i, r]]),
      ids: new Set(load.map((j) => j.id)).size,
      statuses: [...new Set(load.map((j) => j.status))],
      listed: jobs.list().length,
      completed: jobs.completed.length,
      others: jobs.queued.length + jobs.running.length + jobs.failed.length + jobs.killed.length,
      peak,
    }))`,
    300_000,
  );
  const took = Date.now() - t0;
  clearInterval(sampler);
  console.log(
    `${JOBS} jobs: submitted in ${
      submit.elapsed.toFixed(0)
    } ms, all done in ${took} ms; ` +
      `kernel RSS ${baseline.toFixed(0)} MB before, peak ${
        peakRss.toFixed(0)
      } MB`,
  );
  assert.deepEqual(outcome, {
    wrong: [],
    ids: JOBS,
    statuses: ["completed"],
    listed: JOBS,
    completed: JOBS,
    others: 0,
    peak: outcome.peak,
  });
  assert.ok(
    (outcome.peak as number) >= 1 && (outcome.peak as number) <= MAX_RUNNING,
    `${outcome.peak} ran at once`,
  );
  assert.ok(submit.elapsed < 30_000, `submitting took ${submit.elapsed} ms`);

  const flushed = await value<number[]>(
    k,
    `const flushed = jobs.flush();
    load = undefined;
    console.log(JSON.stringify([flushed, jobs.list().length]))`,
  );
  assert.deepEqual(flushed, [JOBS, 0]);
  const heap = await collect(k);
  const collected = await value<boolean[]>(
    k,
    "console.log(JSON.stringify(refs.map((r) => r.deref() === undefined)))",
  );
  assert.deepEqual(collected, [true, true, true], "flushed jobs are garbage");
  assert.ok(
    heap < baseHeap + 20,
    `JS heap ${heap.toFixed(0)} MB after flush, ${
      baseHeap.toFixed(0)
    } MB before`,
  );
  const { rss, waited } = await rssFallsUnder(
    pid,
    baseline + MEMORY_SLACK_MB,
    60_000,
  );
  console.log(
    `after jobs.flush(): JS heap ${heap.toFixed(0)} MB (${
      baseHeap.toFixed(0)
    } before); RSS ${rss.toFixed(0)} MB after ${waited} ms idle (${
      baseline.toFixed(0)
    } before)`,
  );
  assert.ok(
    rss < baseline + MEMORY_SLACK_MB,
    `kernel RSS ${rss.toFixed(0)} MB a minute after flush, baseline ${
      baseline.toFixed(0)
    } MB`,
  );
});
