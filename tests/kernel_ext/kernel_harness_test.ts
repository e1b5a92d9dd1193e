/**
 * Checks the real-kernel harness itself with plain cells (no bgjobs), so a
 * failure in `kernel_test.ts` can be told apart from a broken harness.
 */
import assert from "node:assert/strict";
import { startKernel } from "../_kernel.ts";

Deno.test("kernel harness runs real cells and records their messages", async (t) => {
  // Deno's kernel may publish a value after the cell's idle status, later
  // still on a loaded machine: listen a while longer than the default.
  await using k = await startKernel({ linger: 400 });

  await t.step(
    "a value, stdout and an error are recorded per cell",
    async () => {
      const sum = await k.execute("1 + 1");
      assert.deepEqual(sum.status, "ok", sum.describe());
      assert.deepEqual(sum.text, "2");
      const printed = await k.execute("console.log('x'); console.error('y')");
      assert.deepEqual(printed.stdout, "x\n");
      assert.deepEqual(printed.stderr, "y\n");
      const failed = await k.execute("throw new Error('boom')");
      assert.deepEqual(failed.status, "error");
      assert.deepEqual(failed.error?.evalue, "boom");
      assert(sum.sentAt <= sum.startedAt && sum.startedAt <= sum.repliedAt);
    },
  );

  await t.step("relative imports resolve against the repo root", async () => {
    const cwd = await k.execute("Deno.cwd()");
    assert.match(cwd.text ?? "", /"\/.*"/);
    const config = await k.execute(
      "(await import('./deno.json', { with: { type: 'json' } })).default.name",
    );
    assert.deepEqual(config.text, '"@x/bgjobs"', config.describe());
  });

  await t.step("cells sent without waiting run in order", async () => {
    const slow = k.submit(
      "await new Promise((r) => setTimeout(r, 300)); 'slow'",
    );
    const fast = k.submit("'fast'");
    const [a, b] = await Promise.all([slow.done, fast.done]);
    assert.deepEqual([a.text, b.text], ['"slow"', '"fast"']);
    assert(a.elapsed >= 250, a.describe());
    assert(
      b.startedAt >= a.idleAt,
      "second cell ran before the first ended",
    );
  });

  await t.step("run() sends a batch at once and keeps listening", async () => {
    const [first, second] = await k.run([
      "setTimeout(() => console.log('late'), 300); 'first'",
      "'second'",
    ], { wait: false, listen: 500 });
    assert.deepEqual([first.text, second.text], ['"first"', '"second"']);
    assert.ok(second.sentAt - first.sentAt < 50, "sent together");
    const late = k.messages.find((m) => m.content.text === "late\n");
    assert.ok(late, "output 300 ms after the last cell was captured");
  });

  await t.step(
    "display updates after the reply are still captured",
    async () => {
      const cell = await k.execute(`
      Deno.jupyter.display({ "text/plain": "v1" }, { raw: true, display_id: "h1" });
      setTimeout(() => Deno.jupyter.display({ "text/plain": "v2" },
        { raw: true, display_id: "h1", update: true }), 200);
    `);
      await k.waitFor((m) => m.content.data?.["text/plain"] === "v2", 5_000);
      const updates = k.displays("h1");
      assert.deepEqual(updates.map((u) => [u.msgType, u.data["text/plain"]]), [
        ["display_data", "v1"],
        ["update_display_data", "v2"],
      ]);
      assert(updates[1].t > cell.repliedAt, "update arrived after the reply");
      assert.deepEqual(
        cell.displays.filter((d) => d.displayId === "h1").length,
        2,
        "the idle kernel stamps it with the last cell",
      );
    },
  );
});
