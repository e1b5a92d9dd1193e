/**
 * The cluster: bgjobs (a nats-server and two runners) against ipyparallel (a
 * controller and two engines), in the same run, on the same four test hosts
 * in network namespaces (a server, two workers, a client), or on this
 * machine when namespaces cannot be made. Remote start, kill of a running
 * job, a map of trivial items, a 50 MB result.
 *
 * @module
 */
import { PYTHON } from "./_contenders/external.ts";
import type { Contender, RunContext, Scenario } from "./_scenario.ts";
import { type Batch, sleep } from "./_stats.ts";
import { canMakeHosts, Hosts, lines } from "../tools/_netns.ts";
import { findNatsServer, runnerArgs } from "../lib/cluster/local_cluster.ts";

const PROBE = new URL("./_cluster_probe.ts", import.meta.url).pathname;
const IPP = new URL("./python/ipyparallel_cluster.py", import.meta.url)
  .pathname;

/** The four hosts, or this machine playing all four. */
interface Place extends AsyncDisposable {
  /** Where the hosts are: `"namespaces"` or `"loopback"`. */
  kind: string;
  addr(host: string): string;
  /**
   * Starts a program; only the stream named in `read` is piped (an output
   * nobody reads fills its pipe, and the program blocks writing to it).
   */
  spawn(
    host: string,
    program: string,
    args: string[],
    read?: "stdout" | "stderr",
  ): Deno.ChildProcess;
}

/** Standard streams that pipe only the one read, if any. */
function streams(read?: "stdout" | "stderr"): {
  stdout: "piped" | "null";
  stderr: "piped" | "null";
} {
  return {
    stdout: read === "stdout" ? "piped" : "null",
    stderr: read === "stderr" ? "piped" : "null",
  };
}

async function place(): Promise<Place> {
  if (await canMakeHosts() === undefined) {
    const hosts = await Hosts.create(["srv", "w1", "w2", "k"]);
    return {
      kind: "namespaces",
      addr: (host) => hosts.ip(host),
      spawn: (host, program, args, read) =>
        hosts.spawn(host, program, args, streams(read)),
      [Symbol.asyncDispose]: () => hosts.remove(),
    };
  }
  const children: Deno.ChildProcess[] = [];
  return {
    kind: "loopback",
    addr: () => "127.0.0.1",
    spawn(_host, program, args, read): Deno.ChildProcess {
      const child = new Deno.Command(program, {
        args,
        stdin: "null",
        ...streams(read),
        detached: true,
      }).spawn();
      children.push(child);
      return child;
    },
    async [Symbol.asyncDispose](): Promise<void> {
      for (const child of children) {
        try {
          Deno.kill(-child.pid, "SIGKILL");
        } catch { /* gone */ }
        await child.status;
      }
    },
  };
}

/** The batch a measuring program printed as `BENCH_RESULT {…}`. */
async function result(child: Deno.ChildProcess, ms: number): Promise<Batch> {
  const line = await lines(child).next(/^BENCH_RESULT /, ms);
  return JSON.parse(line.slice("BENCH_RESULT ".length));
}

async function bgjobsCluster(ctx: RunContext): Promise<Batch> {
  const nats = findNatsServer();
  if (!nats) {
    return { samples: [], outcome: "unavailable", note: "no nats-server" };
  }
  // The client host reaches no registry: the npm dependencies come first.
  await import("../mod.ts");
  await (await import("../lib/cluster/nats.ts")).nats();
  await using hosts = await place();
  const store = await Deno.makeTempDir({ prefix: "bgjobs_bench_nats_" });
  try {
    const server = hosts.spawn("srv", nats, [
      "-js",
      "-a",
      hosts.addr("srv"),
      "-p",
      "4222",
      "-sd",
      store,
    ], "stderr");
    await lines(server, "stderr").next(/Server is ready/);
    const url = `nats://${hosts.addr("srv")}:4222`;
    for (const name of ["w1", "w2"]) {
      const runner = hosts.spawn(
        name,
        Deno.execPath(),
        runnerArgs(url, ["--name", name, "--concurrency", "2"]),
        "stdout",
      );
      await lines(runner).next(/^bgjobs runner /, 60_000);
    }
    const probe = hosts.spawn("k", Deno.execPath(), [
      "run",
      "-A",
      "--no-config",
      PROBE,
      JSON.stringify(ctx),
      url,
    ], "stdout");
    const batch = await result(probe, 240_000);
    return { ...batch, info: { hosts: hosts.kind } };
  } finally {
    await Deno.remove(store, { recursive: true }).catch(() => {});
  }
}

async function ipyparallelCluster(ctx: RunContext): Promise<Batch> {
  await using hosts = await place();
  const profile = await Deno.makeTempDir({ prefix: "bgjobs_bench_ipp_" });
  try {
    hosts.spawn("srv", "/usr/bin/ipcontroller", [
      `--ip=${hosts.addr("srv")}`,
      `--profile-dir=${profile}`,
      "--log-level=ERROR",
    ]);
    const engineFile = `${profile}/security/ipcontroller-engine.json`;
    for (let i = 0; i < 600; i++) {
      try {
        Deno.statSync(engineFile);
        break;
      } catch {
        await sleep(100);
      }
    }
    for (const name of ["w1", "w2"]) {
      hosts.spawn(name, "/usr/bin/ipengine", [
        `--file=${engineFile}`,
        `--profile-dir=${profile}`,
        "--log-level=ERROR",
      ]);
    }
    const client = hosts.spawn("k", PYTHON, [
      IPP,
      JSON.stringify(ctx),
      `${profile}/security/ipcontroller-client.json`,
    ], "stdout");
    const batch = await result(client, 240_000);
    return { ...batch, info: { hosts: hosts.kind } };
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

const contenders: Contender[] = [
  { name: "bgjobs", run: bgjobsCluster, timeoutMs: 300_000 },
  {
    name: "ipyparallel",
    variants: ["cluster.start", "cluster.map", "cluster.kill"],
    needs: "ipyparallel",
    timeoutMs: 300_000,
    run: ipyparallelCluster,
  },
];

const scenario: Scenario = {
  id: "cluster",
  title:
    "Cluster: bgjobs (nats-server, two runners) vs ipyparallel (controller, two engines) on four test hosts",
  url: import.meta.url,
  reference: "bgjobs",
  variants: [
    {
      id: "cluster.start",
      metric:
        "ms from submit to the job's code running on a warm runner (ipyparallel: apply_sync round trip)",
    },
    {
      id: "cluster.kill",
      metric:
        "ms from kill() of a busy job to its runner confirming it gone (ipyparallel: abort of a running task)",
    },
    {
      id: "cluster.map",
      metric:
        "µs per item: x => x * 2 over 100,000 items (quick: 20,000) on two runners (ipyparallel: load-balanced map, chunks of 1,000)",
      params: (quick) => ({ items: quick ? 20_000 : 100_000 }),
    },
    {
      id: "cluster.transfer",
      metric:
        "ms from a job on a runner holding a 50 MiB Float64Array (quick: 10 MiB) to the notebook holding it",
      params: (quick) => ({ bytes: (quick ? 10 : 50) * 2 ** 20 }),
      derive: (tally, quick) => {
        const sorted = tally.samples.toSorted((a, b) => a - b);
        const ms = sorted[Math.floor(sorted.length / 2)];
        const bytes = (quick ? 10 : 50) * 2 ** 20;
        return { gb_per_s: ms ? Number((bytes / ms / 1e6).toFixed(3)) : null };
      },
    },
  ],
  contenders,
  plan: (quick) =>
    quick ? { rounds: 1, perBatch: 3 } : { rounds: 2, perBatch: 10 },
};

export default scenario;
