/**
 * A cluster over four test hosts (network namespaces): nats-server on one,
 * a runner on each of two more, and a program using bgjobs on the fourth.
 * Real processes, a real server, real links cut.
 */
import assert from "node:assert/strict";
import { canMakeHosts, Hosts, lines } from "../../tools/_netns.ts";
import { nats as loadNats } from "../../lib/cluster/nats.ts";
import {
  findNatsServer,
  NATS_APT_LINE,
  runnerArgs,
} from "../../lib/cluster/local_cluster.ts";

const DRIVER = new URL("../_cluster_driver.ts", import.meta.url).pathname;
/**
 * A runner silent for SILENCE_MS (6 s) fails its jobs; generous slack for a
 * loaded machine (16 s seen with two other suites running).
 */
const LOST_BOUND_MS = 20_000;

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

async function until(test: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

Deno.test({
  name:
    "a cluster over four hosts: maps, kills, and survives a killed runner, a cut link and a killed server",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const cannot = await canMakeHosts();
    if (cannot) throw new Error(`Cannot make test hosts: ${cannot}`);
    const nats = findNatsServer();
    if (!nats) throw new Error(`nats-server is missing: ${NATS_APT_LINE}`);
    // The hosts reach no registry: bgjobs' npm dependencies (its parser, its
    // NATS clients) are built into its cache here first.
    await import("../../mod.ts");
    await loadNats();
    await using hosts = await Hosts.create(["srv", "r1", "r2", "k"]);
    const store = await Deno.makeTempDir({ prefix: "bgjobs_nats_" });
    const url = `nats://${hosts.ip("srv")}:4222`;
    const startServer = async () => {
      const server = hosts.spawn("srv", nats, [
        "-js",
        "-a",
        hosts.ip("srv"),
        "-p",
        "4222",
        "-sd",
        store,
      ], { stdout: "null" });
      const log = lines(server, "stderr");
      await log.next(/Server is ready/);
      return server;
    };
    let server = await startServer();
    const runners = new Map<
      string,
      { child: Deno.ChildProcess; err: ReturnType<typeof lines> }
    >();
    for (const name of ["r1", "r2"]) {
      const child = hosts.spawn(
        name,
        Deno.execPath(),
        runnerArgs(url, [
          "--name",
          name,
          "--concurrency",
          "2",
          "--max-permissions",
          "sys,env,read=/tmp",
        ]),
      );
      await lines(child).next(new RegExp(`bgjobs runner ${name} `), 60_000);
      runners.set(name, { child, err: lines(child, "stderr") });
    }
    const driver = hosts.spawn("k", Deno.execPath(), [
      "run",
      "-A",
      "--no-config",
      DRIVER,
    ], { stdin: "piped" });
    const answers = lines(driver);
    const stdin = driver.stdin.getWriter();
    let next = 0;
    const ask = async (
      command: Record<string, unknown>,
      ms = 60_000,
      // deno-lint-ignore no-explicit-any
    ): Promise<any> => {
      const id = ++next;
      await stdin.write(
        new TextEncoder().encode(JSON.stringify({ ...command, id }) + "\n"),
      );
      const line = await answers.next(new RegExp(`^\\{"id":${id},`), ms);
      const answer = JSON.parse(line);
      if ("error" in answer) throw new Error(answer.error);
      return answer.ok;
    };
    try {
      await t.step("the program finds both runners", async () => {
        assert.deepEqual(
          await ask({ do: "configure", cluster: url, runners: 2 }),
          ["r1", "r2"],
        );
        assert.equal((await ask({ do: "ping" })).value, 42);
      });

      await t.step(
        "a map spreads over both runners, results in order",
        async () => {
          const where: string[] = await ask({ do: "map", items: 16 });
          assert.deepEqual(where.map((w) => Number(w.split("@")[0])), [
            ...Array(16).keys(),
          ]);
          const hostsUsed = new Set(where.map((w) => w.split("@")[1]));
          assert.deepEqual(
            [...hostsUsed].sort(),
            [hosts.ip("r1"), hosts.ip("r2")].sort(),
          );
        },
      );

      await t.step(
        "a job asking for more than the runners allow is refused at job()",
        async () => {
          assert.match(
            await ask({ do: "admit" }),
            /^TypeError: Cannot run a job asking for net on the cluster: runner r[12] .* allows at most read=\/tmp,env,sys/,
          );
        },
      );

      await t.step(
        "kill across hosts stops a busy loop, confirmed by its runner",
        async () => {
          const started = await ask({
            do: "start",
            name: "spin",
            seconds: 60,
            busy: true,
          });
          assert.match(started.where, /^r[12]@/);
          assert.ok(alive(started.pid), "the job runs on its runner's host");
          const killed = await ask({ do: "kill", name: "spin" });
          assert.equal(killed.status, "killed");
          assert.ok(killed.ms < 2000, `kill took ${killed.ms} ms`);
          assert.ok(
            !alive(started.pid),
            "its process is gone when kill() resolves",
          );
        },
      );

      await t.step(
        "a hostile message on a runner's subject is refused, and the runner goes on",
        async () => {
          assert.equal(await ask({ do: "hostile", cluster: url }), 4);
          for (const [name, runner] of runners) {
            await runner.err.next(/refused a message/, 10_000);
            assert.equal(
              await Promise.race([
                runner.child.status.then(() => "exited"),
                new Promise((r) => setTimeout(() => r("running"), 200)),
              ]),
              "running",
              name,
            );
          }
          assert.equal((await ask({ do: "ping" })).value, 42);
        },
      );

      await t.step(
        "nats-server SIGKILLed and restarted mid-job: nothing is lost",
        async () => {
          await ask({ do: "printer", name: "printer", lines: 30 });
          await new Promise((r) => setTimeout(r, 800));
          Deno.kill(-server.pid, "SIGKILL");
          await server.status;
          await new Promise((r) => setTimeout(r, 1000));
          server = await startServer();
          const done = await ask({ do: "await", name: "printer" });
          assert.equal(done.status, "completed", done.error);
          assert.deepEqual(done.result, { printed: 30 });
          assert.equal(done.logLines, 30, "every line of output arrived");
          assert.deepEqual(done.progress, { done: 30, total: 30 });
        },
      );

      let survivor = "";
      await t.step(
        "a runner SIGKILLed mid-job fails its job in bounded time, naming it",
        async () => {
          const started = await ask({
            do: "start",
            name: "victim",
            seconds: 120,
          });
          const [name] = started.where.split("@");
          survivor = name === "r1" ? "r2" : "r1";
          Deno.kill(-runners.get(name)!.child.pid, "SIGKILL");
          const done = await ask({ do: "await", name: "victim" }, 30_000);
          assert.equal(done.status, "failed");
          assert.match(
            done.error,
            new RegExp(`its runner ${name} \\(.*\\) stopped answering`),
          );
          assert.ok(done.waitedMs < LOST_BOUND_MS, `${done.waitedMs} ms`);
          assert.ok(
            await until(() => !alive(started.pid), 2000),
            "its runtime went with the runner",
          );
        },
      );

      await t.step(
        "a runner whose link is cut fails its job in bounded time, and kills it once cut off",
        async () => {
          const started = await ask({ do: "start", name: "cut", seconds: 120 });
          assert.ok(started.where.startsWith(`${survivor}@`), started.where);
          await hosts.link(survivor, false);
          const done = await ask({ do: "await", name: "cut" }, 30_000);
          assert.equal(done.status, "failed");
          assert.match(
            done.error,
            new RegExp(`its runner ${survivor} \\(.*\\) stopped answering`),
          );
          assert.ok(done.waitedMs < LOST_BOUND_MS, `${done.waitedMs} ms`);
          assert.ok(
            await until(() => !alive(started.pid), LOST_BOUND_MS),
            "the runner, cut off, killed the job nobody waits for",
          );
          await hosts.link(survivor, true);
        },
      );
    } finally {
      await ask({ do: "exit" }, 10_000).catch(() => {});
      await stdin.close().catch(() => {});
      await Deno.remove(store, { recursive: true }).catch(() => {});
    }
  },
});
