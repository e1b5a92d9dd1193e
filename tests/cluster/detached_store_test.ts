/**
 * Detached jobs in the cluster's store, in this process, on the durable
 * local cluster of a cache of its own: a removed job is gone from the
 * store (a later attach does not list it), an expired one is dropped, the
 * server asks for a token only this user can read, and
 * `jobs.stopDetachedCluster()` stops the nats-server and the runner.
 */
import assert from "node:assert/strict";
import { job, jobs } from "../../mod.ts";
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
      assert.match(
        await withoutToken(port),
        /Authorization Violation/,
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

      // Killed by this kernel: a later attach says so too.
      const spin = job(() => new Promise(() => {}), { detached: true });
      assert.ok(await eventually(() => spin.status === "running", 30_000));
      await spin.kill();
      jobs.flush();
      const [again] = await jobs.attach();
      assert.equal(again.uuid, spin.uuid);
      assert.equal(again.status, "killed");
      assert.match(again.error!.message, /was killed: a kernel asked/);
      await jobs.remove(again);

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

// What the server answers a client that gives no token (NATS's text protocol).
async function withoutToken(port: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode("CONNECT {}\r\nPING\r\n"));
    let text = "";
    const buffer = new Uint8Array(4096);
    while (!/-ERR|PONG/.test(text)) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    return text;
  } finally {
    conn.close();
  }
}
