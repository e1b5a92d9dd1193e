/**
 * bgjobs in a real `deno jupyter` kernel: `job()` returns at once, other
 * cells run while the job works, and `await j` brings the result back.
 */
import assert from "node:assert/strict";
import { startBgjobsKernel } from "../_kernel.ts";

Deno.test("job() in a real kernel returns at once and other cells run meanwhile", async (t) => {
  await using k = await startBgjobsKernel();
  // mod.ts is loaded up front: cell 1 measures job(), not module loading.

  const launch = await k.execute(`
    import { job, jobs } from "./mod.ts";
    const j = job(async () => {
      await new Promise((r) => setTimeout(r, 2000));
      return 42;
    });
  `);
  const jobStarted = launch.startedAt;

  await t.step("the launching cell finishes well before the job", () => {
    assert.equal(launch.status, "ok", launch.describe());
    assert.ok(launch.elapsed < 1500, `cell took ${launch.elapsed} ms`);
  });

  await t.step("another cell runs while the job is running", async () => {
    const other = await k.execute("1 + 1");
    assert.equal(other.text, "2", other.describe());
    assert.ok(
      other.repliedAt < jobStarted + 2000,
      `1 + 1 finished ${other.repliedAt - jobStarted} ms after the job started`,
    );
    const status = await k.execute("j.status");
    assert.match(status.text ?? "", /"(queued|running)"/, status.describe());
  });

  await t.step("the job's output stays out of the other cells", () => {
    const cells = [launch.msgId];
    for (const message of k.messages) {
      if (cells.includes(message.parentMsgId ?? "")) continue;
      assert.notEqual(
        message.msgType,
        "stream",
        JSON.stringify(message.content),
      );
      assert.notEqual(
        message.msgType,
        "display_data",
        JSON.stringify(message.content),
      );
    }
  });

  await t.step("await j gives the result", async () => {
    const result = await k.execute("await j");
    assert.equal(result.status, "ok", result.describe());
    assert.equal(result.text, "42");
    assert.ok(result.repliedAt >= jobStarted + 2000);
    const status = await k.execute("j.status");
    assert.equal(status.text, '"completed"');
  });
});
