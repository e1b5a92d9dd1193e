/**
 * A detached job while the durable local cluster's nats-server is SIGKILLed
 * and started again (same store, same port): nothing of it is lost, for the
 * kernel following it and for a later attach.
 */
import assert from "node:assert/strict";
import { job, jobs, progress } from "../../mod.ts";
import { ensureDurableCluster } from "../../lib/cluster/durable_cluster.ts";
import { durablePids, withDetachedCache } from "../_detached.ts";
import { eventually, isAlive } from "../_procs.ts";

Deno.test({
  name:
    "a detached job loses nothing when the durable cluster's nats-server is SIGKILLed and restarted",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withDetachedCache("restart-test", async (dir) => {
      const j = job(async () => {
        for (let i = 1; i <= 40; i++) {
          console.log(`line ${i}`);
          progress(i, 40);
          await new Promise((r) => setTimeout(r, 250));
        }
        return "all 40";
      }, { detached: true, name: "steady" });
      assert.ok(await eventually(() => (j.progress?.done ?? 0) >= 3, 30_000));
      const [server, runner] = durablePids(dir).toReversed();
      Deno.kill(server, "SIGKILL");
      assert.ok(await eventually(() => !isAlive(server), 3000));
      // Down longer than the 6 s after which a cut-off runner kills the
      // jobs of kernels: a detached job stays.
      await new Promise((r) => setTimeout(r, 7000));
      await ensureDurableCluster();
      const [again] = durablePids(dir).toReversed();
      assert.notEqual(again, server);
      assert.ok(isAlive(runner), "the same runner, reconnected");

      assert.equal(await j, "all 40");
      const lines = Array.from({ length: 40 }, (_, i) => `line ${i + 1}\n`);
      assert.equal(j.logs, lines.join(""));
      assert.deepEqual(j.progress, { done: 40, total: 40 });

      jobs.flush();
      const [found] = await jobs.attach();
      assert.equal(found.uuid, j.uuid);
      assert.equal(await found, "all 40");
      assert.equal(found.logs, lines.join(""));
      await jobs.remove(found);
      assert.equal(await jobs.stopDetachedCluster(), true);
    }),
});
