/**
 * The cluster: a nats-server and two runners on this machine (loopback),
 * against ipyparallel with two engines, in the same run. Remote start, kill
 * of a running job, a map of trivial items, a 50 MB result.
 *
 * @module
 */
import { bgjobs } from "./_contenders/bgjobs.ts";
import { PYTHON } from "./_contenders/external.ts";
import type { Contender, RunContext, Scenario } from "./_scenario.ts";
import { type Batch, epochNow, sleep } from "./_stats.ts";

// A job runtime's global (see lib/runtime/report.ts), called in the jobs.
declare const share: (name: string, value: unknown) => void;

const IPP = new URL("./python/ipyparallel_cluster.py", import.meta.url)
  .pathname;

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A nats-server and two runners, killed with their groups at the end. */
async function startCluster(): Promise<AsyncDisposable & { url: string }> {
  const { findNatsServer, runnerArgs } = await import(
    "../lib/cluster/local_cluster.ts"
  );
  const server = findNatsServer();
  if (!server) throw new Error("nats-server is not installed");
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "bgjobs_bench_nats_" });
  const url = `nats://127.0.0.1:${port}`;
  const spawn = (program: string, args: string[]) =>
    new Deno.Command(program, {
      args,
      stdout: "null",
      stderr: "null",
      detached: true,
    }).spawn();
  const children = [
    spawn(server, ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", dir]),
  ];
  for (let i = 0; i < 100; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      await sleep(50);
    }
  }
  for (const name of ["r1", "r2"]) {
    children.push(
      spawn(
        Deno.execPath(),
        runnerArgs(url, ["--name", name, "--concurrency", "2"]),
      ),
    );
  }
  return {
    url,
    async [Symbol.asyncDispose](): Promise<void> {
      for (const child of children) {
        try {
          Deno.kill(-child.pid, "SIGKILL");
        } catch { /* gone */ }
        await child.status;
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

async function bgjobsCluster(ctx: RunContext): Promise<Batch> {
  const { job, jobs } = await bgjobs();
  await using cluster = await startCluster();
  await jobs.configure({ cluster: cluster.url });
  for (let i = 0; i < 200 && jobs.runners.length < 2; i++) await sleep(50);
  // Both runners warm.
  await jobs.map([1, 2, 3, 4], (x: number) => x, { on: "cluster" });
  const samples: number[] = [];
  const extra: Record<string, number[]> = {};
  try {
    for (let i = 0; i < ctx.n; i++) {
      if (ctx.variant === "cluster.start") {
        await sleep(300); // the runner's pool refilled: a warm runner
        const t0 = epochNow();
        const j = job(() => {
          share("t", performance.timeOrigin + performance.now());
          return 1;
        }, { on: "cluster", display: false });
        await j;
        samples.push((j.exports.t as number) - t0);
      } else if (ctx.variant === "cluster.kill") {
        await sleep(300);
        const j = job(`share("pid", Deno.pid); while (true) {}`, {
          on: "cluster",
          display: false,
        });
        while (!("pid" in j.exports)) await sleep(2);
        const t0 = performance.now();
        await j.kill();
        samples.push(performance.now() - t0);
        const pid = j.exports.pid as number;
        const gone = await (async () => {
          for (let k = 0; k < 100; k++) {
            try {
              Deno.statSync(`/proc/${pid}`);
            } catch {
              return true;
            }
            await sleep(2);
          }
          return false;
        })();
        (extra.gone ??= []).push(gone ? 1 : 0);
      } else if (ctx.variant === "cluster.map") {
        const items = Array.from({ length: ctx.params.items }, (_, k) => k);
        const t0 = performance.now();
        const out = await jobs.map(items, (x: number) => x * 2, {
          on: "cluster",
          concurrency: 2,
          display: false,
        });
        samples.push((performance.now() - t0) * 1000 / items.length);
        if (out.at(-1) !== 2 * (items.length - 1)) throw new Error("wrong map");
      } else if (ctx.variant === "cluster.transfer") {
        await sleep(300);
        const count = ctx.params.bytes / 8;
        (globalThis as Record<string, unknown>).count = count;
        const j = job(() => {
          const a = new Float64Array(count).fill(1);
          share("t", performance.timeOrigin + performance.now());
          return a;
        }, { on: "cluster", display: false });
        const value = await j;
        samples.push(epochNow() - (j.exports.t as number));
        if (value.length !== count) throw new Error("wrong result");
      }
    }
  } finally {
    await jobs.shutdown();
  }
  return { samples, extra };
}

const contenders: Contender[] = [
  { name: "bgjobs", run: bgjobsCluster, timeoutMs: 300_000 },
  {
    name: "ipyparallel",
    variants: ["cluster.start", "cluster.map", "cluster.kill"],
    needs: "ipyparallel",
    timeoutMs: 300_000,
    command: (ctx) => [PYTHON, IPP, JSON.stringify(ctx)],
  },
];

const scenario: Scenario = {
  id: "cluster",
  title:
    "Cluster: a nats-server and two runners on loopback, vs ipyparallel with two engines",
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
        const ms = tally.samples.toSorted((a, b) => a - b)[
          Math.floor(tally.samples.length / 2)
        ];
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
