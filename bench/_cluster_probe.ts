/**
 * The bgjobs side of the cluster scenario, run on the bench's client host:
 * `deno run -A bench/_cluster_probe.ts CTX_JSON nats://SERVER:4222`. Prints
 * `BENCH_RESULT {…}` with the batch, as the Python contenders do.
 *
 * @module
 */
import { job, jobs } from "../mod.ts";
import type { RunContext } from "./_scenario.ts";
import { type Batch, epochNow, sleep } from "./_stats.ts";

// A job runtime's global (see lib/runtime/report.ts), called in the jobs.
declare const share: (name: string, value: unknown) => void;

async function measure(ctx: RunContext, url: string): Promise<Batch> {
  await jobs.configure({ cluster: url });
  for (let i = 0; i < 200 && jobs.runners.length < 2; i++) await sleep(50);
  if (jobs.runners.length < 2) throw new Error("the two runners did not come");
  // Both runners warm.
  await jobs.map([1, 2, 3, 4], (x: number) => x, { on: "cluster" });
  const samples: number[] = [];
  const extra: Record<string, number[]> = {};
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
      await j.kill(); // resolves once the runner confirms the process gone
      samples.push(performance.now() - t0);
      (extra.killed ??= []).push(j.status === "killed" ? 1 : 0);
    } else if (ctx.variant === "cluster.map") {
      await sleep(300); // the runners' pools refilled, as for a cell's map
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
  return { samples, extra };
}

const [ctx, url] = [JSON.parse(Deno.args[0]) as RunContext, Deno.args[1]];
let batch: Batch;
try {
  batch = await measure(ctx, url);
} catch (error) {
  batch = { samples: [], outcome: "failed", note: String(error) };
} finally {
  await jobs.shutdown();
}
console.log(`BENCH_RESULT ${JSON.stringify(batch!)}`);
Deno.exit(0);
