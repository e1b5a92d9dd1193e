/**
 * Detached jobs in the cluster's store, in this process, on the durable
 * local cluster of a cache of its own: a removed job is gone from the
 * store (a later attach does not list it), an expired one is dropped, the
 * server asks for a token only this user can read, and
 * `jobs.stopDetachedCluster()` stops the nats-server and the runner.
 */
import assert from "node:assert/strict";
import { job, jobs } from "../../mod.ts";
import { nats } from "../../lib/cluster/nats.ts";
import { durablePids, withDetachedCache } from "../_detached.ts";
import { eventually, isAlive } from "../_procs.ts";

Deno.test({
  name:
    "a removed detached job is gone from the store, an expired one is dropped, and the durable cluster stops",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withDetachedCache("store-test", async (dir) => {
      // Nothing was ever detached here: attach starts nothing.
      assert.deepEqual(await jobs.attach(), []);
      assert.deepEqual(durablePids(dir), []);
      const kept = job(() => 6 * 7, { detached: true, name: "kept" });
      assert.equal(await kept, 42);
      assert.match(kept.where, /^detached@/);
      const [server, runner] = durablePids(dir).toReversed();
      assert.ok(server && runner, "the durable cluster runs");
      const { port } = JSON.parse(
        await Deno.readTextFile(`${dir}/detached/cluster.json`),
      );
      await assert.rejects(
        (await nats()).connect({
          servers: `nats://127.0.0.1:${port}`,
          reconnect: false,
        }),
        /Authorization/i,
        "the server asks for its token",
      );
      const stat = await Deno.stat(`${dir}/detached/token`);
      assert.equal(stat.mode! & 0o077, 0, "only this user reads the token");

      // Forgotten by this kernel only: still in the store.
      assert.equal(jobs.flush(), 1);
      const found = await jobs.attach();
      assert.deepEqual(found.map((j) => [j.uuid, j.status]), [
        [kept.uuid, "completed"],
      ]);
      assert.equal(await found[0], 42);
      await jobs.remove(found[0]);
      assert.deepEqual(await jobs.attach(), []);

      await jobs.configure({ retention: 1000 });
      const brief = job(() => "brief", { detached: true });
      assert.equal(await brief, "brief");
      jobs.flush();
      await new Promise((r) => setTimeout(r, 2500));
      assert.deepEqual(await jobs.attach(), [], "expired after 1 s");

      assert.equal(await jobs.stopDetachedCluster(), true);
      assert.ok(
        await eventually(() => !isAlive(server) && !isAlive(runner), 5000),
      );
    }),
});
