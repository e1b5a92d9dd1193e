/**
 * Scenario 6, memory per idle runtime: the resident memory (`VmRSS`, from
 * `/proc`) of every process of one idle warm bgjobs runtime (the `deno`, and
 * the watcher and relay its launcher left), against a bare idle `deno run`,
 * and what an idle Worker adds to its process. The launcher bgjobs keeps made
 * ahead (a shell and a relay, no Deno; one per kernel, not per runtime) is
 * reported beside.
 *
 * @module
 */
import { bgjobs } from "./_contenders/bgjobs.ts";
import {
  startThread,
  type Thread,
  type ThreadKind,
} from "./_contenders/threads.ts";
import {
  childrenOf,
  commOf,
  groupOf,
  procInfo,
  pssMb,
  rssMb,
  timeUntil,
} from "./_proc.ts";
import type { Contender, RunContext, Scenario } from "./_scenario.ts";
import { type Batch, sleep } from "./_stats.ts";

/** ms an idle process is left to settle before it is measured. */
const SETTLE_MS = 1500;

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/**
 * The process groups this process started: each runtime (and the launcher
 * made ahead) leads a group of its own, so its leader's pid names it.
 */
function ownGroups(): number[] {
  return childrenOf(Deno.pid).filter((pid) => procInfo(pid)?.pgid === pid);
}

const hasDeno = (group: number) =>
  groupOf(group).some((pid) => commOf(pid) === "deno");

/** The groups of idle runtimes: those with a `deno` in them. */
function runtimeGroups(): number[] {
  return ownGroups().filter(hasDeno);
}

async function bgjobsMemory(ctx: RunContext): Promise<Batch> {
  const { job, jobs } = await bgjobs();
  jobs.configure({ warm: 1 });
  // Several jobs first: the pool should still hold just one idle runtime.
  for (let i = 0; i < 5; i++) await job(() => 0);
  await timeUntil(() => runtimeGroups().length > 0, 10_000);
  await sleep(SETTLE_MS);
  const groups = runtimeGroups();
  if (groups.length === 0) throw new Error("found no idle runtime to measure");
  const batch: Batch = {
    samples: [],
    extra: { deno_mb: [], pss_mb: [] },
    info: { idle_runtimes_after_5_jobs: groups.length },
  };
  const group = groupOf(groups[0]);
  batch.info!.processes = group.map(commOf).sort().join("+");
  const launcher = ownGroups().find((g) => !hasDeno(g));
  if (launcher !== undefined) {
    const members = groupOf(launcher);
    batch.info!.launcher_made_ahead = members.map(commOf).sort().join("+");
    batch.info!.launcher_made_ahead_mb = sum(members.map(rssMb));
  }
  for (let i = 0; i < ctx.n; i++) {
    const members = groupOf(groups[0]);
    batch.samples.push(sum(members.map(rssMb)));
    batch.extra!.deno_mb.push(
      sum(members.filter((pid) => commOf(pid) === "deno").map(rssMb)),
    );
    batch.extra!.pss_mb.push(sum(members.map(pssMb)));
    await sleep(200);
  }
  await jobs.shutdown();
  return batch;
}

async function bareMemory(ctx: RunContext): Promise<Batch> {
  const script = `${ctx.work}/idle.ts`;
  await Deno.writeTextFile(script, "setInterval(() => {}, 1_000_000);\n");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script],
    stdout: "null",
  }).spawn();
  await sleep(SETTLE_MS);
  const batch: Batch = { samples: [], extra: { pss_mb: [] } };
  for (let i = 0; i < ctx.n; i++) {
    batch.samples.push(rssMb(child.pid));
    batch.extra!.pss_mb.push(pssMb(child.pid));
    await sleep(200);
  }
  child.kill("SIGKILL");
  await child.status;
  return batch;
}

async function threadMemory(ctx: RunContext, kind: ThreadKind): Promise<Batch> {
  const count = 4;
  const batch: Batch = { samples: [], info: { workers: count } };
  for (let i = 0; i < ctx.n; i++) {
    await sleep(300);
    const before = rssMb("self");
    const threads: Thread[] = [];
    await Promise.all(
      Array.from({ length: count }, () =>
        new Promise<void>((ready) => {
          const thread = startThread(kind, 'send("ready");');
          threads.push(thread);
          thread.listen(() => ready());
        })),
    );
    await sleep(SETTLE_MS);
    batch.samples.push((rssMb("self") - before) / count);
    await Promise.all(threads.map((t) => t.terminate()));
  }
  return batch;
}

const contenders: Contender[] = [
  { name: "bgjobs warm runtime", run: bgjobsMemory },
  { name: "bare idle deno run", run: bareMemory },
  {
    name: "Deno Worker (added per idle worker)",
    run: (ctx) => threadMemory(ctx, "deno"),
  },
  {
    name: "node:worker_threads (added per idle worker)",
    run: (ctx) => threadMemory(ctx, "node"),
  },
];

const scenario: Scenario = {
  id: "memory",
  title: "Memory per idle runtime",
  url: import.meta.url,
  reference: "bgjobs warm runtime",
  variants: [{
    id: "memory.idle",
    metric:
      "MB resident (VmRSS, summed over its processes) of one idle runtime",
    unit: "MB",
  }],
  contenders,
  plan: (quick) =>
    quick ? { rounds: 1, perBatch: 2 } : { rounds: 3, perBatch: 3 },
};

export default scenario;
