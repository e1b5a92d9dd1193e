/**
 * The cluster in a real `deno jupyter` kernel, with `cluster: "local"`: a
 * NATS server and a runner started by one line, a job on it with its panel,
 * logs, progress, shared values and result, `jobs.runners` as a table, a
 * kill; and when the kernel is SIGKILLed, the server, the runner and the
 * job go with it.
 */
import assert from "node:assert/strict";
import { ok, startBgjobsKernel } from "../_kernel.ts";
import { descendantsOf, eventually, isAlive } from "../_procs.ts";

Deno.test({
  name:
    'a notebook runs jobs on jobs.configure({ cluster: "local" }), and its SIGKILL takes the cluster along',
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using k = await startBgjobsKernel();
    await ok(k, 'import { job, jobs, progress } from "./mod.ts";');
    await ok(k, 'await jobs.configure({ cluster: "local" });', 120_000);

    const table = await k.execute("jobs.runners");
    assert.match(
      String(table.result?.["text/html"] ?? ""),
      /<table class="bgjobs-runners".*<td[^>]*>local<\/td>/s,
      table.describe(),
    );

    const launch = await k.execute(`
      const base = 40;
      const j = job(async () => {
        console.log("hello from the runner");
        progress(1, 2);
        share("half", [1, 2]);
        await new Promise((r) => setTimeout(r, 300));
        progress(2, 2);
        return base + 2;
      }, { on: "cluster", name: "remote" });
    `);
    assert.equal(launch.status, "ok", launch.describe());
    const panel = launch.displays[0].displayId!;
    assert.equal(await ok(k, "await j"), "42");
    assert.match(await ok(k, "j.where"), /^"local@/);
    assert.match(await ok(k, "j.logs"), /hello from the runner/);
    assert.equal(await ok(k, "JSON.stringify(j.exports.half)"), '"[1,2]"');
    assert.equal(await ok(k, "await jobs.wait(); j.progress.done"), "2");
    const last = k.displays(panel).at(-1)!;
    assert.match(String(last.data["text/plain"]), /completed · .* · on local@/);

    const spin = await k.execute(
      `const spin = job(\`share("pid", Deno.pid); while (true) {}\`, { on: "cluster" });
      while (!("pid" in spin.exports)) await new Promise((r) => setTimeout(r, 20));
      console.log(JSON.stringify({ kernel: Deno.pid, job: spin.exports.pid }));`,
    );
    assert.equal(spin.status, "ok", spin.describe());
    const pids = JSON.parse(spin.stdout.trim().split("\n").at(-1)!);
    assert.ok(isAlive(pids.job));
    const started = descendantsOf(pids.kernel).map((p) => p.pid);
    assert.ok(started.includes(pids.job), "the runner is the kernel's");
    Deno.kill(pids.kernel, "SIGKILL");
    assert.ok(
      await eventually(() => !started.some(isAlive), 3000),
      `left: ${started.filter(isAlive)}`,
    );
  },
});
