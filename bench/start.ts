/**
 * Scenario 1, start latency: from the call that starts the work to the
 * first line of user code running, in a plain script and in a real kernel.
 * User code stamps `performance.timeOrigin + performance.now()`, a clock
 * the processes share (checked: a child's stamp always falls between its
 * parent's spawn and exit).
 *
 * @module
 */
import { benchKernel, cellJson } from "./_kernel.ts";
import { preparePool } from "./_contenders/bgjobs.ts";
import { externalContenders } from "./_contenders/external.ts";
import { firstMessage, type ThreadKind } from "./_contenders/threads.ts";
import type { Contender, CustomContext, RunContext } from "./_scenario.ts";
import type { Scenario } from "./_scenario.ts";
import {
  addBatch,
  type Batch,
  epochNow,
  newTally,
  rotate,
  sleep,
  type Tally,
} from "./_stats.ts";

/** A script whose first line stamps the time: the "empty script". */
const STAMP = new URL("./_contenders/stamp.ts", import.meta.url).pathname;
const STAMP_BODY = "send(performance.timeOrigin + performance.now());";

/**
 * Watches the event loop: the longest gap between two timer turns is how
 * long something held the thread (e.g. a `spawn()` that forks).
 */
function stallMonitor(): { stop(): number } {
  let last = performance.now();
  let worst = 0;
  let timer = setTimeout(function tick(): void {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
    timer = setTimeout(tick, 0);
  }, 0);
  return {
    stop(): number {
      clearTimeout(timer);
      return Math.max(worst, performance.now() - last);
    },
  };
}

async function bgjobsStart(
  ctx: RunContext,
  mode: "warm" | "cold",
  heapMb = 0,
): Promise<Batch> {
  // A notebook that holds data: the kernel process is that much bigger.
  const data = new Float64Array(heapMb * 2 ** 20 / 8).fill(1);
  const { job, jobs } = await preparePool(mode, ctx.quick);
  const samples: number[] = [];
  const extra: Record<string, number[]> = {
    call_returns_ms: [],
    pool_hit: [],
    loop_stall_ms: [],
    ...(mode === "cold" ? { mkfifo_ms: [], runtime_imports_ms: [] } : {}),
  };
  const graph = mode === "cold" ? await runtimeGraphScript(ctx.work) : "";
  for (let i = 0; i < ctx.n; i++) {
    if (mode === "warm") await sleep(ctx.quick ? 300 : 500);
    const stall = stallMonitor();
    const t0 = epochNow();
    const j = job(() => [
      performance.timeOrigin + performance.now(),
      performance.timeOrigin,
    ]);
    extra.call_returns_ms.push(epochNow() - t0);
    const [ran, runtimeBorn] = await j;
    samples.push(ran - t0);
    extra.loop_stall_ms.push(stall.stop());
    // A runtime born after the call was started for this job: a pool miss.
    extra.pool_hit.push(runtimeBorn < t0 ? 1 : 0);
    if (mode === "cold") {
      extra.mkfifo_ms.push(await mkfifoTime(ctx.work));
      extra.runtime_imports_ms.push(await denoStamp(graph));
    }
  }
  await jobs.shutdown();
  return {
    samples,
    extra,
    info: heapMb ? { notebook_heap_mb: data.byteLength / 2 ** 20 } : {},
  };
}

/** ms from spawning `deno run script` to the script's first line. */
async function denoStamp(script: string): Promise<number> {
  const t0 = epochNow();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return Number(lines.at(-1)) - t0;
}

async function mkfifoTime(work: string): Promise<number> {
  const path = `${work}/fifo-${crypto.randomUUID()}`;
  const t0 = performance.now();
  await new Deno.Command("mkfifo", { args: ["-m", "600", path] }).output();
  const took = performance.now() - t0;
  await Deno.remove(path).catch(() => {});
  return took;
}

/**
 * A script that imports what the job runtime (`lib/runtime/main.ts`) imports and
 * then stamps the time: how long loading the runtime's code takes, apart
 * from the bare `deno run`. The list is read from runtime.ts itself.
 */
async function runtimeGraphScript(work: string): Promise<string> {
  const runtime = new URL("../lib/runtime/main.ts", import.meta.url);
  const source = await Deno.readTextFile(runtime);
  const imports = [...source.matchAll(/^import[^;]*?from\s+"([^"]+)";/gms)]
    .map((m) => new URL(m[1], runtime).href);
  const lines = imports.map((href) => `import ${JSON.stringify(href)};`);
  lines.push("console.log(performance.timeOrigin + performance.now());");
  const path = `${work}/runtime_graph.ts`;
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
  return path;
}

async function subprocessStart(ctx: RunContext): Promise<Batch> {
  const samples: number[] = [];
  const exit: number[] = [];
  for (let i = 0; i < ctx.n; i++) {
    const t0 = epochNow();
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", STAMP],
      stdout: "piped",
    }).output();
    exit.push(epochNow() - t0);
    samples.push(Number(new TextDecoder().decode(out.stdout)) - t0);
  }
  return { samples, extra: { exit_ms: exit } };
}

async function threadStart(ctx: RunContext, kind: ThreadKind): Promise<Batch> {
  const samples: number[] = [];
  for (let i = 0; i < ctx.n; i++) {
    const t0 = epochNow();
    const { thread, message } = await firstMessage(kind, STAMP_BODY);
    samples.push((message as number) - t0);
    await thread.terminate();
  }
  return { samples };
}

const KERNEL_CONTENDERS: Record<string, { setup?: string; sample: string }> = {
  "bgjobs (warm)": {
    setup:
      "jobs.configure({ warm: 1 }); await job(() => 0); await new Promise((r) => setTimeout(r, 500));",
    sample: `await new Promise((r) => setTimeout(r, 400));
      const t0 = performance.timeOrigin + performance.now();
      const [ran, born] = await job(() => [performance.timeOrigin + performance.now(), performance.timeOrigin]);
      return [ran - t0, born < t0 ? 1 : 0];`,
  },
  "bgjobs (cold)": {
    setup: "jobs.configure({ warm: 0 });",
    sample: `const t0 = performance.timeOrigin + performance.now();
      const [ran, born] = await job(() => [performance.timeOrigin + performance.now(), performance.timeOrigin]);
      return [ran - t0, born < t0 ? 1 : 0];`,
  },
  "Deno.Command subprocess": {
    sample: `const t0 = performance.timeOrigin + performance.now();
      const out = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", ${
      JSON.stringify(STAMP)
    }], stdout: "piped" }).output();
      return [Number(new TextDecoder().decode(out.stdout)) - t0];`,
  },
  // The kernel runs without --unstable-worker-options: no deno.permissions.
  "Deno Worker": {
    sample: `const t0 = performance.timeOrigin + performance.now();
      const code = "postMessage(performance.timeOrigin + performance.now())";
      const w = new Worker("data:text/javascript," + encodeURIComponent(code), { type: "module" });
      const ran = await new Promise((r) => w.onmessage = (e) => r(e.data));
      w.terminate();
      return [ran - t0];`,
  },
  "node:worker_threads": {
    sample: `const { Worker: NodeWorker } = await import("node:worker_threads");
      const t0 = performance.timeOrigin + performance.now();
      const w = new NodeWorker('require("node:worker_threads").parentPort.postMessage(performance.timeOrigin + performance.now())', { eval: true });
      const ran = await new Promise((r) => w.once("message", r));
      await w.terminate();
      return [ran - t0];`,
  },
};

async function kernelStart(ctx: CustomContext): Promise<Map<string, Tally>> {
  const tallies = new Map<string, Tally>();
  const names = Object.keys(KERNEL_CONTENDERS);
  for (const name of names) tallies.set(name, newTally());
  const kernel = await benchKernel();
  if (typeof kernel === "string") {
    for (const tally of tallies.values()) {
      addBatch(tally, { samples: [], outcome: "unavailable", note: kernel });
    }
    return tallies;
  }
  try {
    const { rounds, perBatch } = ctx.quick
      ? { rounds: 1, perBatch: 2 }
      : { rounds: 3, perBatch: 4 };
    for (let round = 0; round < rounds; round++) {
      for (const name of rotate(names, round)) {
        const { setup, sample } = KERNEL_CONTENDERS[name];
        ctx.log(`start.kernel ${name} (round ${round + 1}/${rounds})`);
        if (setup) await kernel.execute(setup, { timeout: 60_000 });
        const batch: Batch = { samples: [], extra: { pool_hit: [] } };
        for (let i = 0; i < perBatch; i++) {
          const code =
            `await (async () => { ${sample} })().then(JSON.stringify)`;
          const [ms, hit] = await cellJson<number[]>(kernel, code);
          batch.samples.push(ms);
          if (hit !== undefined) batch.extra!.pool_hit.push(hit);
        }
        addBatch(tallies.get(name)!, batch);
      }
    }
  } catch (error) {
    const note = `kernel case stopped: ${(error as Error).message}`;
    for (const tally of tallies.values()) {
      addBatch(tally, { samples: [], outcome: "failed", note });
    }
  } finally {
    await kernel.shutdown();
  }
  return tallies;
}

/** The share of jobs that found a warm runtime waiting. */
function hitRate(tally: Tally): Record<string, unknown> {
  const hits = tally.extra.pool_hit ?? [];
  if (hits.length === 0) return {};
  return {
    pool_hit_rate: hits.reduce((a, b) => a + b, 0) / hits.length,
    pool_hit: null,
  };
}

const contenders: Contender[] = [
  { name: "bgjobs (warm)", run: (ctx) => bgjobsStart(ctx, "warm") },
  { name: "bgjobs (cold)", run: (ctx) => bgjobsStart(ctx, "cold") },
  {
    name: "bgjobs (warm, notebook holding 1 GB)",
    run: (ctx) => bgjobsStart(ctx, "warm", ctx.quick ? 256 : 1024),
  },
  { name: "Deno.Command subprocess", run: subprocessStart },
  { name: "Deno Worker", run: (ctx) => threadStart(ctx, "deno") },
  { name: "node:worker_threads", run: (ctx) => threadStart(ctx, "node") },
  ...externalContenders(["start.plain"]),
];
for (const c of contenders.slice(0, 6)) c.variants = ["start.plain"];

const scenario: Scenario = {
  id: "start",
  title: "Start latency: call → user code running",
  url: import.meta.url,
  reference: "bgjobs (warm)",
  variants: [
    {
      id: "start.plain",
      metric: "ms from the call to user code running, in a `deno run` script",
      derive: hitRate,
    },
    {
      id: "start.kernel",
      metric: "ms from the call to user code running, in a real Deno kernel",
      custom: kernelStart,
      derive: hitRate,
    },
  ],
  contenders,
  plan: (quick) =>
    quick ? { rounds: 1, perBatch: 3 } : { rounds: 3, perBatch: 6 },
};

export default scenario;
