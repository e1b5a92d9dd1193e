/**
 * A cluster whose server asks for a token, and one that speaks only TLS
 * (certificates made here with openssl): runners and kernels with the right
 * credentials work; without them, connecting fails with what to check.
 */
import assert from "node:assert/strict";
import { job, jobs } from "../../mod.ts";
import { Runner } from "../../runner.ts";
import { freePort, natsServer as server } from "../_nats.ts";
import type { ClusterOptions } from "../../lib/cluster/cluster_options.ts";

async function roundTrip(cluster: ClusterOptions): Promise<void> {
  await using runner = await Runner.start({
    cluster,
    name: "auth",
    log: () => {},
  });
  assert.equal(runner.name, "auth");
  await jobs.configure({ cluster });
  try {
    assert.equal(await job(() => 6 * 7, { on: "cluster" }), 42);
  } finally {
    await jobs.configure({ cluster: null });
  }
}

Deno.test({
  name: "a cluster with a token: the right token works, a wrong one is refused",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const port = freePort();
    await using _server = await server([
      "-p",
      String(port),
      "--auth",
      "s3cret",
    ]);
    const servers = `nats://127.0.0.1:${port}`;
    await roundTrip({ servers, token: "s3cret" });
    await assert.rejects(
      () => jobs.configure({ cluster: { servers, token: "wrong" } }),
      /Cannot reach the cluster at nats:\/\/127\.0\.0\.1:\d+: .*check that nats-server runs there with -js, and the credentials/,
    );
    await jobs.shutdown();
  },
});

Deno.test({
  name:
    "a cluster over TLS: a client that trusts the server's CA works, one that does not is refused",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "bgjobs_tls_" });
    try {
      const openssl = async (...args: string[]) => {
        const out = await new Deno.Command("openssl", {
          args,
          cwd: dir,
          stderr: "piped",
        })
          .output();
        assert.ok(out.success, new TextDecoder().decode(out.stderr));
      };
      await openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=bgjobs test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
      );
      await openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
      );
      await Deno.writeTextFile(
        `${dir}/san.cnf`,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
      );
      await openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.cnf",
        "-out",
        "server.pem",
      );
      const port = freePort();
      await using _server = await server([
        "-p",
        String(port),
        "--tls",
        "--tlscert",
        `${dir}/server.pem`,
        "--tlskey",
        `${dir}/server.key`,
      ]);
      const servers = `tls://127.0.0.1:${port}`;
      await roundTrip({ servers, tls: { caFile: `${dir}/ca.pem` } });
      await assert.rejects(
        () => jobs.configure({ cluster: { servers } }),
        /Cannot reach the cluster at tls:\/\/127\.0\.0\.1:\d+/,
      );
      await jobs.shutdown();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "nothing of the kernel's environment travels to a runner unless granted, and a runner serves its own cluster only",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const port = freePort();
    await using _server = await server(["-p", String(port)]);
    const servers = `nats://127.0.0.1:${port}`;
    await using _runner = await Runner.start({
      cluster: { servers, name: "blue" },
      name: "blue-runner",
      log: () => {},
    });
    Deno.env.set("BGJOBS_TEST_SECRET", "kernel-only");
    try {
      await jobs.configure({ cluster: { servers, name: "blue" } });
      const read =
        `export const secret = Deno.env.get("BGJOBS_TEST_SECRET") ?? "none";`;
      assert.deepEqual(await job(read, { on: "cluster" }), { secret: "none" });
      assert.deepEqual(
        await job(read, {
          on: "cluster",
          permissions: { env: ["BGJOBS_TEST_SECRET"] },
        }),
        { secret: "kernel-only" },
      );
      // A map of many chunks comes back whole and in order.
      const items = Array.from({ length: 5003 }, (_, i) => i);
      const tripled = await jobs.map(items, (x: number) => x * 3, {
        on: "cluster",
      });
      assert.deepEqual(tripled, items.map((x) => x * 3));
      // Another cluster on the same server sees no runner of "blue".
      await jobs.configure({ cluster: { servers, name: "green" } });
      assert.equal(jobs.runners.length, 0);
      const orphan = job(() => 1, { on: "cluster" });
      assert.equal(await orphan.done, "failed");
      assert.match(
        orphan.error!.message,
        /No runner of cluster "green" answers/,
      );
    } finally {
      Deno.env.delete("BGJOBS_TEST_SECRET");
      await jobs.shutdown();
    }
  },
});
