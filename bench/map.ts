/**
 * Scenario 3, map throughput: 100,000 trivial items (the cost per item of
 * getting work to a pool and results back), and CPU-bound items on every
 * core against the same items run one after another in-process (the
 * notebook's own thread).
 *
 * @module
 */
import {
  bgjobs,
  hasMap,
  type MapFn,
  mapOf,
  refillWait,
} from "./_contenders/bgjobs.ts";
import { externalContenders } from "./_contenders/external.ts";
import {
  startThread,
  type Thread,
  type ThreadKind,
} from "./_contenders/threads.ts";
import type { Contender, RunContext, Scenario, Where } from "./_scenario.ts";
import { type Batch, epochNow, median, sleep, type Tally } from "./_stats.ts";

/** The CPU-bound item: `n` rounds of integer arithmetic (~90 ms for 2e7 here). */
function cpu(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 31 + i) % 1000003;
  return x;
}

const CORES = navigator.hardwareConcurrency;

function items(ctx: RunContext): number[] {
  return Array.from({ length: ctx.params.items }, (_, i) => i);
}

async function bgjobsMap(ctx: RunContext): Promise<Batch> {
  const mod = await bgjobs();
  if (!hasMap(mod)) {
    return {
      samples: [],
      outcome: "not implemented",
      note: "jobs.map is not in mod.ts yet",
    };
  }
  const map = mapOf(mod);
  await mod.job(() => 0); // the pool starts with the first job: one warm runtime
  const batch: Batch = { samples: [], extra: {}, info: { concurrency: CORES } };
  const extra = batch.extra!;
  await sleep(refillWait(ctx.quick));
  if (ctx.variant === "map.cpu") {
    // The first map of a notebook: one lane warm, the others start cold.
    const first = await cpuRound(map, ctx);
    extra.first_map_speedup = [first.seq / first.par];
  } else {
    // Like the thread pools' threads, started before their timing: a map
    // leaves the pool as many warm runtimes as it used.
    await map(Array(CORES).fill(0), (x: number) => x, { concurrency: CORES });
  }
  for (let i = 0; i < ctx.n; i++) {
    await sleep(refillWait(ctx.quick));
    if (ctx.variant === "map.trivial") {
      const list = items(ctx);
      const t0 = performance.now();
      const out = await map(list, (x: number) => x * 2, { concurrency: CORES });
      batch.samples.push(performance.now() - t0);
      check(out.at(-1) === 2 * (list.length - 1), "wrong map result");
      // The fixed part: the same map over one item per runtime.
      await sleep(refillWait(ctx.quick));
      const t1 = performance.now();
      await map(list.slice(0, CORES), (x: number) => x * 2, {
        concurrency: CORES,
      });
      (extra.fixed_ms ??= []).push(performance.now() - t1);
    } else {
      const { seq, par, firstItem } = await cpuRound(map, ctx);
      batch.samples.push(par);
      (extra.first_item_ms ??= []).push(firstItem);
      (extra.sequential_ms ??= []).push(seq);
      (extra.speedup ??= []).push(seq / par);
    }
  }
  await mod.jobs.shutdown();
  return batch;
}

/**
 * The CPU-bound items in-process, then (after the pool had time to refill)
 * as a map: both times, and when the map's first item started.
 */
async function cpuRound(
  map: MapFn,
  ctx: RunContext,
): Promise<{ seq: number; par: number; firstItem: number }> {
  const { items: count, work } = ctx.params;
  const t0 = performance.now();
  for (let k = 0; k < count; k++) cpu(work);
  const seq = performance.now() - t0;
  await sleep(refillWait(ctx.quick));
  const t1 = performance.now();
  const started = epochNow();
  // Each item also says when it started: how long the map made it wait.
  const out = await map(Array(count).fill(work), (n: number) => {
    const at = performance.timeOrigin + performance.now();
    let x = 0;
    for (let i = 0; i < n; i++) x = (x * 31 + i) % 1000003;
    return [x, at];
  }, { concurrency: CORES });
  const par = performance.now() - t1;
  const firstItem = Math.min(...out.map(([, at]) => at - started));
  return { seq, par, firstItem };
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

const THREAD_BODY = `
const fns = {
  double: (x) => x * 2,
  cpu: (n) => { let x = 0; for (let i = 0; i < n; i++) x = (x * 31 + i) % 1000003; return x; },
};
receive((m) => send([m[0], fns[m[1]](m[2])]));
send("ready");
`;

/** A naive pool: one thread per core, one message per item, round robin. */
async function threadPool(kind: ThreadKind, where: Where): Promise<{
  map(op: string, list: number[]): Promise<unknown[]>;
  close(): Promise<void>;
}> {
  const threads: Thread[] = [];
  let onResult: (m: [number, unknown]) => void = () => {};
  await Promise.all(
    Array.from({ length: CORES }, () =>
      new Promise<void>((ready) => {
        const thread = startThread(kind, THREAD_BODY, where);
        threads.push(thread);
        thread.listen((m) =>
          m === "ready" ? ready() : onResult(m as [number, unknown])
        );
      })),
  );
  return {
    map: (op, list) =>
      new Promise((resolve) => {
        const out = new Array(list.length);
        let left = list.length;
        onResult = ([i, value]) => {
          out[i] = value;
          if (--left === 0) resolve(out);
        };
        list.forEach((x, i) => threads[i % threads.length].post([i, op, x]));
      }),
    close: async () => {
      await Promise.all(threads.map((t) => t.terminate()));
    },
  };
}

async function threadMap(ctx: RunContext, kind: ThreadKind): Promise<Batch> {
  const t0 = performance.now();
  const pool = await threadPool(kind, ctx.where);
  const batch: Batch = {
    samples: [],
    extra: {},
    info: { threads: CORES, pool_start_ms: performance.now() - t0 },
  };
  const extra = batch.extra!;
  for (let i = 0; i < ctx.n; i++) {
    if (ctx.variant === "map.trivial") {
      const list = items(ctx);
      const t1 = performance.now();
      const out = await pool.map("double", list);
      batch.samples.push(performance.now() - t1);
      check(out.at(-1) === 2 * (list.length - 1), "wrong map result");
    } else {
      const { items: count, work } = ctx.params;
      const t1 = performance.now();
      for (let k = 0; k < count; k++) cpu(work);
      const seq = performance.now() - t1;
      const t2 = performance.now();
      await pool.map("cpu", Array(count).fill(work));
      const par = performance.now() - t2;
      batch.samples.push(par);
      (extra.sequential_ms ??= []).push(seq);
      (extra.speedup ??= []).push(seq / par);
    }
  }
  await pool.close();
  return batch;
}

const contenders: Contender[] = [
  { name: "bgjobs", run: bgjobsMap },
  { name: "Deno Worker pool", run: (ctx) => threadMap(ctx, "deno") },
  {
    name: "node:worker_threads pool",
    run: (ctx) => threadMap(ctx, "node"),
    where: ["script"],
  },
  ...externalContenders(["map.trivial", "map.cpu"]),
];

function perItem(tally: Tally, quick: boolean): Record<string, unknown> {
  const count = Number(tally.info.items ?? mapParams(quick).trivial.items);
  const total = median(tally.samples);
  const fixed = median(tally.extra.fixed_ms ?? []);
  return {
    items: count,
    us_per_item: total * 1000 / count,
    marginal_us_per_item: Number.isFinite(fixed)
      ? (total - fixed) * 1000 / (count - CORES)
      : undefined,
  };
}

function mapParams(quick: boolean): {
  trivial: Record<string, number>;
  cpu: Record<string, number>;
} {
  return quick
    ? { trivial: { items: 20_000 }, cpu: { items: 4, work: 10_000_000 } }
    : { trivial: { items: 100_000 }, cpu: { items: 8, work: 20_000_000 } };
}

const scenario: Scenario = {
  id: "map",
  title: "Map throughput",
  url: import.meta.url,
  reference: "bgjobs",
  variants: [
    {
      id: "map.trivial",
      metric:
        "ms to map x => x * 2 over 100,000 items (quick: 20,000) on one worker per core",
      params: (quick) => mapParams(quick).trivial,
      derive: perItem,
      where: ["script", "kernel"],
    },
    {
      id: "map.cpu",
      metric:
        "ms to run 8 CPU-bound items (~90 ms each; quick: 4 × ~45 ms) on one worker per core; speedup = in-process sequential time / this",
      params: (quick) => mapParams(quick).cpu,
      derive: (_tally, quick) => ({ items: mapParams(quick).cpu.items }),
      where: ["script", "kernel"],
    },
  ],
  contenders,
  plan: (quick) =>
    quick ? { rounds: 1, perBatch: 1 } : { rounds: 3, perBatch: 2 },
};

export default scenario;
