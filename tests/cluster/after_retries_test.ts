/**
 * `after` and `retries` on a cluster, all on 127.0.0.1: a real nats-server
 * and runner subprocesses. Results reach dependents on runners as they
 * reach local ones; a runtime SIGKILLed on its runner, or a runner that
 * dies, is retried.
 */
import assert from "node:assert/strict";
import { job, jobs } from "../../mod.ts";
import { runnerArgs } from "../../lib/cluster/local_cluster.ts";
import { freePort, natsServer } from "../_nats.ts";
import { pidJob, shared } from "../_util.ts";

const CLUSTER = "durable";

type RunnerProcess = Deno.ChildProcess & AsyncDisposable;

/** A runner subprocess, once it says it runs; disposing stops it. */
async function startRunner(
  server: string,
  name: string,
): Promise<RunnerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: runnerArgs(server, [
      "--name",
      name,
      "--cluster",
      CLUSTER,
      "--exit-with-stdin",
    ]),
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes(`bgjobs runner ${name} `)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`runner ${name} did not start: ${out}`);
    out += value;
  }
  reader.cancel();
  return Object.assign(child, {
    async [Symbol.asyncDispose](): Promise<void> {
      await child.stdin.close().catch(() => {});
      await child.status;
    },
  });
}

async function waitForRunners(names: string[]): Promise<void> {
  const end = Date.now() + 30_000;
  const known = () => jobs.runners.map((r) => r.name).sort().join();
  while (known() !== names.join()) {
    if (Date.now() > end) throw new Error(`runners: ${known()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const SLEEP_THEN_PID =
  "await new Promise((r) => setTimeout(r, 1500));\nexport const pid = Deno.pid;";

Deno.test({
  name:
    "on a cluster: a diamond gets its results, and a job whose runtime or runner dies completes on retry",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const port = freePort();
    await using _server = await natsServer(["-p", String(port)]);
    const servers = `nats://127.0.0.1:${port}`;
    await using r1 = await startRunner(servers, "r1");
    await jobs.configure({ cluster: { servers, name: CLUSTER } });
    try {
      await waitForRunners(["r1"]);

      await t.step(
        "a diamond over runners and this machine runs in order with the right arguments",
        async () => {
          const a = job(async () => {
            await new Promise((r) => setTimeout(r, 300));
            return new Map([["n", 2]]);
          }, { on: "cluster", name: "a" });
          const b = job((m) => m.get("n")! + 1, {
            after: [a],
            on: "cluster",
            name: "b",
          });
          const c = job((m) => m.get("n")! * 10, { after: [a], name: "c" });
          const d = job((x, y) => ({ x, y }), {
            after: [b, c],
            on: "cluster",
            name: "d",
          });
          assert.equal(b.status, "waiting");
          assert.equal(d.status, "waiting");
          assert.deepEqual(await d, { x: 3, y: 20 });
          assert.match(b.where, /^r1@/);
          assert.match(d.where, /^r1@/);
          assert.equal(c.where, "local");
          assert.ok(b.startedAt! >= a.endedAt! && c.startedAt! >= a.endedAt!);
          assert.ok(d.startedAt! >= b.endedAt! && d.startedAt! >= c.endedAt!);
        },
      );

      await t.step(
        "a runtime SIGKILLed on its runner is retried there and completes",
        async () => {
          const j = pidJob(SLEEP_THEN_PID, { on: "cluster", retries: 1 });
          const first = await shared<number>(j, "pid");
          Deno.kill(first, "SIGKILL");
          const { pid } = await j as { pid: number };
          assert.notEqual(pid, first);
          const [one, two] = j.attempts;
          assert.match(one.error!.message, /its runtime was killed by SIGKILL/);
          assert.match(one.where, /^r1@/);
          assert.equal(two.error, undefined);
        },
      );

      await t.step(
        "a runner SIGKILLed mid-job: the job is retried on the other runner",
        async () => {
          await using r2 = await startRunner(servers, "r2");
          await waitForRunners(["r1", "r2"]);
          const j = pidJob(SLEEP_THEN_PID, {
            on: "cluster",
            retries: { max: 1, backoff: 0 },
          });
          await shared(j, "pid");
          const [dying, other] = j.where.startsWith("r1@")
            ? ["r1", "r2"]
            : ["r2", "r1"];
          (dying === "r1" ? r1 : r2).kill("SIGKILL");
          assert.equal(await j.done, "completed");
          const [one, two] = j.attempts;
          assert.match(one.error!.message, /stopped answering/);
          assert.ok(one.where.startsWith(`${dying}@`));
          assert.ok(two.where.startsWith(`${other}@`));
        },
      );
    } finally {
      await jobs.shutdown();
    }
  },
});
