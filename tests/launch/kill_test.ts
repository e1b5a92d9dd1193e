import assert from "node:assert/strict";
import { JobKilledError, jobs } from "../../mod.ts";
import { eventually, groupMembers, isAlive, procInfo } from "../_procs.ts";
import { jobTest, pidJob, shared, withMaxRunning } from "../_util.ts";

const fifo = await Deno.makeTempFile({ prefix: "bgjobs-fifo-" });
await Deno.remove(fifo);
await new Deno.Command("mkfifo", { args: [fifo] }).output();

const MODES: Record<string, string> = {
  "a busy loop": "while (true) {}",
  "a microtask loop":
    "const spin = () => Promise.resolve().then(spin); spin(); await new Promise(() => {});",
  "a timer": "await new Promise((r) => setTimeout(r, 1_000_000));",
  "Atomics.wait":
    "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);",
  "a blocking sync read": `Deno.openSync(${
    JSON.stringify(fifo)
  }).readSync(new Uint8Array(8));`,
  "a subprocess":
    `await new Deno.Command("sleep", { args: ["1000"] }).output();`,
};

for (const [mode, body] of Object.entries(MODES)) {
  jobTest(
    `kill() stops ${mode} with everything it started, and frees its CPU`,
    async () => {
      const j = pidJob(body, { name: mode });
      const pid = await shared<number>(j, "pid");
      const pgid = procInfo(pid)!.pgid;
      await new Promise((r) => setTimeout(r, 150)); // let it get stuck
      assert.equal(j.status, "running");
      if (mode === "a subprocess") {
        assert.ok(
          groupMembers(pgid).some((p) => p.pid !== pid && p.ppid === pid),
          "sleep runs",
        );
      }
      const t0 = performance.now();
      await j.kill();
      const took = performance.now() - t0;
      assert.equal(j.status, "killed");
      assert.ok(!isAlive(pid), "the runtime is gone once kill() resolves");
      assert.ok(
        await eventually(() => groupMembers(pgid).length === 0, 1000),
        "nothing left",
      );
      assert.ok(took < 1000, `kill took ${took} ms`); // generous; bench measures the real number
      await assert.rejects(Promise.resolve(j), JobKilledError);
      assert.equal(await j.done, "killed");
    },
  );
}

// A `sleep` the job leaves running, as `child`: in the runtime's group, or
// `detached` (a group of its own, found below the runtime in /proc), from
// the main thread or from a Worker, still running or ended. The kernel reads
// only the main thread's children when the runtime has no more threads than
// when it started (see killTree()): each of these must still be found.
const SPAWN = (detached: boolean) =>
  `const c = new Deno.Command("sleep", { args: ["1000"], detached: ${detached} }).spawn(); c.unref();`;
const IN_WORKER = (code: string) =>
  `const w = new Worker("data:text/javascript," + encodeURIComponent(${
    JSON.stringify(`${code} postMessage(c.pid);`)
  }), { type: "module" });
  const pid = await new Promise((r) => w.onmessage = (e) => r(e.data));`;
const LEFT: Record<string, string> = {
  "a subprocess": `${SPAWN(false)} share("child", c.pid);`,
  "a detached subprocess": `${SPAWN(true)} share("child", c.pid);`,
  "a detached subprocess of a running Worker": `${
    IN_WORKER(SPAWN(true))
  } share("child", pid);`,
  "a detached subprocess of an ended Worker": `${
    IN_WORKER(SPAWN(true))
  } w.terminate(); share("child", pid);`,
};

for (const [what, body] of Object.entries(LEFT)) {
  jobTest(
    `${what} left running by a finished job is killed with its runtime`,
    async () => {
      const j = pidJob(body);
      await j;
      const child = j.exports.child as number;
      assert.ok(Number.isInteger(child), "the job shared its child");
      try {
        assert.ok(
          await eventually(() => !isAlive(child), 1000),
          "sleep was killed",
        );
      } finally {
        if (isAlive(child)) Deno.kill(child, "SIGKILL");
      }
    },
  );
}

jobTest(
  "jobs.kill() and killAll() stop jobs and reject unknown ids",
  async () => {
    const a = pidJob("while (true) {}");
    const b = pidJob("await new Promise(() => {});");
    await Promise.all([shared(a, "pid"), shared(b, "pid")]);
    await jobs.kill(a.id);
    assert.equal(a.status, "killed");
    await jobs.killAll();
    assert.equal(b.status, "killed");
    assert.throws(() => jobs.kill(999_999), RangeError);
  },
);

jobTest("signal aborts and timeout fail the job", async () => {
  const controller = new AbortController();
  const a = pidJob("while (true) {}", { signal: controller.signal });
  await shared(a, "pid");
  controller.abort(new Error("user stopped it"));
  assert.equal(await a.done, "killed");
  assert.equal((a.error as JobKilledError).cause instanceof Error, true);
  const b = pidJob("while (true) {}", { timeout: 300 });
  assert.equal(await b.done, "failed");
  assert.equal(b.error?.name, "JobTimeoutError");
  const pre = new AbortController();
  pre.abort();
  const c = pidJob("1", { signal: pre.signal });
  assert.equal(await c.done, "killed");
});

jobTest(
  "kill() of a queued job never starts it",
  () =>
    withMaxRunning(1, async () => {
      const a = pidJob("await new Promise((r) => setTimeout(r, 300));");
      const b = pidJob("share('started', true)");
      assert.equal(b.status, "queued");
      await b.kill();
      assert.equal(b.status, "killed");
      await a;
      assert.equal("started" in b.exports, false);
    }),
);

jobTest("kill tests leave no runtime behind", async () => {
  await jobs.shutdown();
  assert.equal(jobs.running.length, 0);
  await Deno.remove(fifo);
});
