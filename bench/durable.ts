/**
 * Durable jobs (issue 16): re-attaching 1,000 detached jobs from a new
 * process, what `detached: true` adds to a cluster job's start, and a chain
 * of 100 jobs joined by `after` against 100 sequential warm starts. Each
 * batch keeps its detached jobs in a cache folder of its own (the npm
 * bundles copied in, so nothing is built while timing) and stops its durable
 * cluster at the end.
 *
 * @module
 */
import { bgjobs, preparePool } from "./_contenders/bgjobs.ts";
import type { Contender, RunContext, Scenario } from "./_scenario.ts";
import { type Batch, epochNow, sleep } from "./_stats.ts";
import { cacheDir } from "../lib/deps/npm_bundle.ts";
import { detachedSettings, notebookKey } from "../lib/engine/detached.ts";
import { missingJupyter } from "../tools/_prereq.ts";
import { startKernel } from "../tests/_kernel.ts";
import { cellJson } from "./_kernel.ts";

// A job runtime's global (see lib/runtime/report.ts), called in the jobs.
declare const share: (name: string, value: unknown) => void;
// The notebook name the sequential jobs use.
declare const previous: number;

const ATTACH = new URL("./_attach_probe.ts", import.meta.url).pathname;

/** The notebook key of this folder, whatever this process configured. */
async function defaultNotebookKey(): Promise<string> {
  const set = detachedSettings.notebook;
  detachedSettings.notebook = undefined;
  try {
    return await notebookKey();
  } finally {
    detachedSettings.notebook = set;
  }
}

/** A fresh bgjobs cache for this batch, holding the npm bundles already. */
async function ownCache(ctx: RunContext): Promise<string> {
  const dir = await Deno.makeTempDir({ dir: ctx.work, prefix: "cache-" });
  const shared = cacheDir();
  if (shared) {
    for (const entry of Deno.readDirSync(shared)) {
      if (entry.isFile && entry.name.endsWith(".js")) {
        await Deno.copyFile(`${shared}/${entry.name}`, `${dir}/${entry.name}`);
      }
    }
  }
  Deno.env.set("BGJOBS_CACHE_DIR", dir);
  return dir;
}

/**
 * Starts `count` detached jobs, waits for them, then times new processes
 * that import bgjobs and attach: from before the import to `attach()`
 * resolving with every job.
 */
async function reattach(ctx: RunContext): Promise<Batch> {
  const notebook = `bench-${crypto.randomUUID().slice(0, 8)}`;
  return await withFinished(ctx, notebook, async (cache) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-config", ATTACH, notebook],
      env: { BGJOBS_CACHE_DIR: cache },
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const [ms, found, done] = new TextDecoder().decode(out.stdout).trim()
      .split(" ").map(Number);
    return { ms, found, done };
  });
}

/**
 * The same from a new kernel: from the cell's `import()` of bgjobs to
 * `jobs` listing every job (listed at import, by the notebook key the
 * kernel's folder gives).
 */
async function reattachKernel(ctx: RunContext): Promise<Batch> {
  const missing = await missingJupyter();
  if (missing) return { samples: [], outcome: "unavailable", note: missing };
  // The kernel runs in the repository, as this process: the same key.
  const notebook = await defaultNotebookKey();
  return await withFinished(ctx, notebook, async (cache) => {
    await using kernel = await startKernel({
      env: { BGJOBS_CACHE_DIR: cache },
      timeout: 120_000,
    });
    return await cellJson<Attached>(
      kernel,
      `const t0 = performance.now();
      const { jobs } = await import("./mod.ts");
      const until = Date.now() + 30_000;
      while (jobs.list().length < ${ctx.params.count} && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 1));
      }
      const ms = performance.now() - t0;
      const all = jobs.list();
      JSON.stringify({ ms, found: all.length,
        done: all.filter((j) => j.status === "completed").length })`,
      120_000,
    );
  });
}

interface Attached {
  ms: number;
  found: number;
  done: number;
}

/**
 * Starts `count` detached jobs of `notebook` in a cache of its own, waits
 * for them, and times `attach` once per sample.
 */
async function withFinished(
  ctx: RunContext,
  notebook: string,
  attach: (cache: string) => Promise<Attached>,
): Promise<Batch> {
  const cache = await ownCache(ctx);
  const { job, jobs } = await bgjobs();
  jobs.configure({ notebook });
  const { count } = ctx.params;
  const batch: Batch = { samples: [], extra: {} };
  try {
    const started = Array.from(
      { length: count },
      (_, i) => job(() => 1, { detached: true, display: false, name: `d${i}` }),
    );
    await Promise.all(started);
    await jobs.shutdown();
    for (let i = 0; i < ctx.n; i++) {
      const { ms, found, done } = await attach(cache);
      if (found !== count || done !== count) {
        throw new Error(
          `attach found ${found} jobs (${done} done) of ${count}`,
        );
      }
      batch.samples.push(ms);
    }
  } finally {
    await jobs.stopDetachedCluster().catch(() => false);
    await Deno.remove(cache, { recursive: true }).catch(() => {});
  }
  return batch;
}

/** Starts on the kernel-tied local cluster, detached or not. */
function clusterStart(
  detached: boolean,
): (ctx: RunContext) => Promise<Batch> {
  return async (ctx: RunContext): Promise<Batch> => {
    const cache = await ownCache(ctx);
    const { job, jobs } = await bgjobs();
    await jobs.configure({ cluster: "local", notebook: "bench-start" });
    const batch: Batch = { samples: [] };
    try {
      await job(() => 0, { on: "cluster", detached, display: false });
      for (let i = 0; i < ctx.n; i++) {
        await sleep(300); // the runner's pool refilled: a warm runtime
        const t0 = epochNow();
        const j = job(() => {
          share("t", performance.timeOrigin + performance.now());
          return 1;
        }, { on: "cluster", detached, display: false });
        await j;
        batch.samples.push((j.exports.t as number) - t0);
        if (detached) await jobs.remove(j);
      }
    } finally {
      await jobs.shutdown();
      await Deno.remove(cache, { recursive: true }).catch(() => {});
    }
    return batch;
  };
}

type Mod = Awaited<ReturnType<typeof preparePool>>;

/**
 * Times `run` (100 jobs one way or another, ending with the last one's
 * value, which must be 99) on the warm pool, `ctx.n` times.
 */
async function hundredJobs(
  ctx: RunContext,
  run: (job: Mod["job"]) => PromiseLike<unknown>,
): Promise<Batch> {
  const { job, jobs } = await preparePool("warm", ctx.quick);
  const batch: Batch = { samples: [] };
  for (let i = 0; i < ctx.n; i++) {
    await sleep(500);
    const t0 = performance.now();
    const value = await run(job);
    batch.samples.push(performance.now() - t0);
    if (value !== ctx.params.length - 1) throw new Error(`gave ${value}`);
  }
  await jobs.shutdown();
  return batch;
}

/** 100 jobs, each started by the end of the one before (`after`). */
function chain(ctx: RunContext): Promise<Batch> {
  return hundredJobs(ctx, (job) => {
    let last = job(() => 0, { display: false });
    for (let k = 1; k < ctx.params.length; k++) {
      last = job((n: number) => n + 1, { after: [last], display: false });
    }
    return last;
  });
}

/** 100 jobs, each awaited before the next is started, on the warm pool. */
function sequential(ctx: RunContext): Promise<Batch> {
  return hundredJobs(ctx, async (job) => {
    let value = 0;
    for (let k = 1; k < ctx.params.length; k++) {
      // A notebook name, as a job's function may use.
      (globalThis as { previous?: number }).previous = value;
      value = await job(() => previous + 1, { display: false });
    }
    return value;
  });
}

const contenders: Contender[] = [
  // Making 1,000 detached jobs takes a minute or two before the samples.
  {
    name: "bgjobs",
    variants: ["durable.reattach"],
    run: reattach,
    timeoutMs: 600_000,
  },
  {
    name: "bgjobs",
    variants: ["durable.reattach.kernel"],
    run: reattachKernel,
    timeoutMs: 900_000,
  },
  {
    name: "bgjobs detached",
    variants: ["durable.start"],
    run: clusterStart(true),
  },
  {
    name: "bgjobs cluster job",
    variants: ["durable.start"],
    run: clusterStart(false),
  },
  { name: "bgjobs chain (after)", variants: ["durable.chain"], run: chain },
  {
    name: "bgjobs sequential warm starts",
    variants: ["durable.chain"],
    run: sequential,
  },
];

const scenario: Scenario = {
  id: "durable",
  title: "Durable jobs: re-attach, detached start, a chain of jobs",
  url: import.meta.url,
  reference: "bgjobs",
  variants: [
    {
      id: "durable.reattach",
      metric:
        "ms from a new process's import of bgjobs to `jobs.attach()` holding 1,000 finished detached jobs (quick: 200)",
      params: (quick) => ({ count: quick ? 200 : 1000 }),
    },
    {
      id: "durable.reattach.kernel",
      metric:
        "ms from a new kernel's import of bgjobs to `jobs` listing 1,000 finished detached jobs of its notebook (listed at import; quick: 200)",
      params: (quick) => ({ count: quick ? 200 : 1000 }),
    },
    {
      id: "durable.start",
      metric:
        "ms from job() to the job's code running on a warm runner of a local cluster, detached or not",
    },
    {
      id: "durable.chain",
      metric:
        "ms for 100 jobs each waiting for the one before (`after`), against 100 jobs awaited one by one, on the warm pool",
      params: () => ({ length: 100 }),
    },
  ],
  contenders,
  plan: (quick) =>
    quick ? { rounds: 1, perBatch: 3 } : { rounds: 2, perBatch: 5 },
};

export default scenario;
