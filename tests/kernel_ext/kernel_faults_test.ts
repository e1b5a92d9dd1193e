/**
 * Faults of the kernel itself, in a real `deno jupyter` kernel: SIGKILLed
 * while jobs run, it leaves no process behind; an interrupt stops the cell
 * it was meant for and no job.
 */
import assert from "node:assert/strict";
import { type Kernel, startBgjobsKernel } from "../_kernel.ts";
import { descendantsOf, eventually, isAlive } from "../_procs.ts";

/** Runs a cell that ends by printing one JSON value; returns that value. */
async function value<T>(k: Kernel, code: string): Promise<T> {
  const cell = await k.execute(code);
  assert.equal(cell.status, "ok", cell.describe());
  const line = cell.stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(line);
}

async function kernelWithBgjobs(): Promise<Kernel> {
  const k = await startBgjobsKernel();
  const names = await k.execute('import { job, jobs } from "./mod.ts";');
  assert.equal(names.status, "ok", names.describe());
  return k;
}

/** A cell that spins the kernel's thread for `ms` (no await to interrupt). */
const busyCell = (ms: number) =>
  `{ const end = Date.now() + ${ms}; let n = 0; while (Date.now() < end) n++; n }`;

/** Jobs that wait `ms`, then return 7 × i; their ids and runtime pids. */
const slowJobs = (count: number, ms: number) => `
  globalThis.slow = Array.from({ length: ${count} }, (_, i) => job(
    \`share("pid", Deno.pid); await new Promise((r) => setTimeout(r, ${ms})); export const v = \${i} * 7\`,
    { display: false },
  ));
  while (!slow.every((j) => "pid" in j.exports)) await new Promise((r) => setTimeout(r, 10));
  console.log(JSON.stringify(slow.map((j) => j.exports.pid)));`;

Deno.test("a SIGKILLed kernel with 5 jobs running leaves no process after 1 s", async () => {
  await using k = await kernelWithBgjobs();
  const pids = await value<{ kernel: number; jobs: number[] }>(
    k,
    `const shared = async (j, name) => {
      while (!(name in j.exports)) await new Promise((r) => setTimeout(r, 10));
      return j.exports[name];
    };
    const five = [
      job(\`share("pid", Deno.pid); while (true) {}\`),
      job(\`share("pid", Deno.pid); await new Promise(() => {})\`),
      job(\`share("pid", Deno.pid); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)\`),
      job(\`const c = new Deno.Command("sleep", { args: ["1000"] }).spawn();
        share("child", c.pid); share("pid", Deno.pid); await c.status\`),
      job(\`share("pid", Deno.pid); for (;;) await new Promise((r) => setTimeout(r, 1))\`),
    ];
    const jobPids = [];
    for (const j of five) jobPids.push(await shared(j, "pid"));
    jobPids.push(await shared(five[3], "child"));
    console.log(JSON.stringify({ kernel: Deno.pid, jobs: jobPids }));`,
  );
  assert.equal(pids.jobs.length, 6);
  assert.ok(pids.jobs.every(isAlive), "the jobs and the subprocess run");
  // Everything the kernel started: runtimes, their watchers, warm ones, the
  // launcher made ahead.
  const started = descendantsOf(pids.kernel).map((p) => p.pid);
  for (const pid of pids.jobs) assert.ok(started.includes(pid), `${pid}`);

  Deno.kill(pids.kernel, "SIGKILL");
  const t0 = performance.now();
  const gone = await eventually(() => !started.some(isAlive), 1000);
  const took = performance.now() - t0;
  assert.ok(
    gone,
    `left after 1 s: ${started.filter(isAlive).join(", ")} of ${started}`,
  );
  console.log(
    `${started.length} processes gone ${
      took.toFixed(0)
    } ms after the kernel's SIGKILL`,
  );
});

Deno.test("an interrupt stops a busy cell and no job: running jobs complete", async () => {
  await using k = await kernelWithBgjobs();
  const before = await value<number[]>(k, slowJobs(4, 3000));
  const busy = k.submit(busyCell(30_000));
  await new Promise((r) => setTimeout(r, 500));
  const sent = await k.interrupt("message");
  const stopped = await busy.done;
  const latency = Date.now() - sent;
  assert.equal(stopped.status, "error", stopped.describe());
  assert.ok(latency < 2000, `the busy cell stopped ${latency} ms after`);
  console.log(
    `busy cell stopped ${latency.toFixed(0)} ms after the interrupt_request`,
  );

  const after = await value<Record<string, unknown>>(
    k,
    `const values = [];
    for (const j of slow) values.push((await j).v);
    console.log(JSON.stringify({
      values,
      statuses: slow.map((j) => j.status),
      pids: slow.map((j) => j.exports.pid),
      next: await job(() => 6 * 7),
    }))`,
  );
  assert.deepEqual(after, {
    values: [0, 7, 14, 21],
    statuses: ["completed", "completed", "completed", "completed"],
    pids: before,
    next: 42,
  });
});

// The kernelspec asks for "interrupt_mode": "message": the Deno kernel dies
// on SIGINT (Jupyter's default), taking every job with it.
Deno.test("Interrupt from a frontend stops a busy cell; the kernel and its jobs live on", async () => {
  await using k = await kernelWithBgjobs();
  await value<number[]>(k, slowJobs(2, 2000));
  const busy = k.submit(busyCell(30_000));
  await new Promise((r) => setTimeout(r, 500));
  await k.interrupt("frontend");
  const stopped = await busy.done.catch((error: Error) => error);
  assert.ok(
    !(stopped instanceof Error),
    `the kernel died: ${(stopped as Error).message?.split("\n")[0]}`,
  );
  assert.equal(stopped.status, "error", stopped.describe());
  const values = await value<number[]>(
    k,
    `const vs = []; for (const j of slow) vs.push((await j).v); console.log(JSON.stringify(vs))`,
  );
  assert.deepEqual(values, [0, 7]);
});
