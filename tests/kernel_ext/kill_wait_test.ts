/**
 * In a real kernel: `jobs.kill(id)` typed as a cell's value says what
 * happened, and `await jobs.wait()` as the last cell holds it until every
 * panel shows its job's final state (what a headless run saves).
 */
import assert from "node:assert/strict";
import { startBgjobsKernel } from "../_kernel.ts";

Deno.test({
  name:
    "jobs.kill(id) as a cell's value shows the kill, then that it is done, and stays awaitable",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using k = await startBgjobsKernel();
    const start = await k.execute(`
      import { job, jobs } from "./mod.ts";
      const j = job(() => new Promise(() => {}), { name: "forever" });
    `);
    assert.equal(start.status, "ok", start.describe());
    const kill = await k.execute("jobs.kill(j.id)");
    assert.equal(kill.status, "ok", kill.describe());
    assert.doesNotMatch(JSON.stringify(kill.result ?? {}), /Promise/);
    const shown = kill.displays.find((d) =>
      d.displayId?.startsWith("bgjobs-kill-")
    );
    if (shown) {
      // "killing…" shown while the cell ran, updated in place once done.
      assert.match(String(shown.data["text/plain"]), /^Job \d+ \(forever\)/);
      await k.waitFor((m) =>
        m.msgType === "update_display_data" &&
        String(
            (m.content as { data?: Record<string, string> }).data
              ?.["text/plain"],
          ) ===
          `Job 1 (forever) killed`, 5000);
    } else {
      // The kill was done before the cell's value was shown (a runtime
      // started directly dies within ~20 ms): the value says so.
      assert.equal(kill.text, "Job 1 (forever) killed", kill.describe());
    }
    const status = await k.execute("j.status");
    assert.equal(status.text, '"killed"');
    const again = await k.execute("await jobs.kill(j.id); (await j.done)");
    assert.equal(again.text, '"killed"', again.describe());
    const inspected = await k.execute(
      "const kk = j.kill(); const before = Deno.inspect(kk); await kk; before + ' / ' + Deno.inspect(kk)",
    );
    assert.equal(
      inspected.text,
      '"Job 1 (forever): killing… / Job 1 (forever) killed"',
    );
  },
});

Deno.test({
  name:
    "await jobs.wait() as the last cell returns once every job ended and every panel shows it",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using k = await startBgjobsKernel();
    const launch = await k.execute(`
      import { job, jobs, progress } from "./mod.ts";
      const a = job(async () => {
        for (let i = 1; i <= 20; i++) {
          progress(i, 20);
          await new Promise((r) => setTimeout(r, 50));
        }
        return "a done";
      }, { name: "slow" });
      const b = job(() => { throw new Error("b failed"); }, { name: "failing" });
    `);
    assert.equal(launch.status, "ok", launch.describe());
    const panels = launch.displays.map((d) => d.displayId!);
    assert.equal(panels.length, 2);
    const wait = await k.execute(
      "(await jobs.wait({ timeout: 30_000 })).map((j) => j.status).join(',')",
    );
    assert.equal(wait.text, '"completed,failed"', wait.describe());
    // Every panel's last update came before the waiting cell replied, and
    // shows the final state: what nbconvert keeps.
    for (const id of panels) {
      const updates = k.displays(id);
      const last = updates.at(-1)!;
      assert.ok(last.t <= wait.repliedAt, `panel ${id} updated after the cell`);
      assert.match(String(last.data["text/plain"]), /completed|failed/);
      assert.doesNotMatch(String(last.data["text/plain"]), /running/);
    }
    const late = await k.execute(`
      const c = job(() => new Promise(() => {}), { name: "stuck" });
      let why = "";
      try { await jobs.wait({ timeout: 300 }); } catch (e) { why = e.name + ": " + e.message; }
      why
    `);
    assert.match(
      late.text ?? "",
      /JobTimeoutError: Jobs 3 still running after 300 ms/,
    );
    const still = await k.execute("c.status");
    assert.equal(still.text, '"running"', "the jobs go on");
  },
});
