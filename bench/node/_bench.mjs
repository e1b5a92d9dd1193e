// deno-lint-ignore-file explicit-function-return-type -- plain JavaScript run by Node: no type syntax
// What the Node contenders share: reading the context, timing, answering.
import { cpus } from "node:os";
import { cpu, stamp } from "./_tasks.mjs";

/** The run context the bench passed as JSON. */
export const ctx = JSON.parse(process.argv[2]);

/** Cores on this machine (the pool size). */
export const cores = cpus().length;

/** Prints the batch the way the bench reads it. */
export function emit(batch) {
  console.log("BENCH_RESULT " + JSON.stringify(batch));
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs a case with a pool's `run(name, arg)`: start latency of a warm pool,
 * map throughput of trivial items, CPU-bound speedup over the main thread.
 */
export async function runCase(run) {
  const { variant, n, params, quick } = ctx;
  // Warm every thread first: what is measured is a task on a warm pool.
  await Promise.all(Array.from({ length: cores * 2 }, () => run("stamp")));
  const samples = [];
  const extra = {};
  if (variant === "start.plain") {
    for (let i = 0; i < n; i++) {
      await sleep(quick ? 300 : 500);
      const t0 = stamp();
      samples.push((await run("stamp")) - t0);
    }
  } else if (variant === "map.trivial") {
    const items = Array.from({ length: params.items }, (_, i) => i);
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const out = await Promise.all(items.map((x) => run("double", x)));
      samples.push(performance.now() - t0);
      if (out[items.length - 1] !== 2 * (items.length - 1)) {
        throw new Error("wrong result");
      }
    }
  } else if (variant === "map.cpu") {
    extra.sequential_ms = [];
    extra.speedup = [];
    for (let i = 0; i < n; i++) {
      let t0 = performance.now();
      for (let k = 0; k < params.items; k++) cpu(params.work);
      const seq = performance.now() - t0;
      t0 = performance.now();
      await Promise.all(
        Array.from({ length: params.items }, () => run("cpu", params.work)),
      );
      const par = performance.now() - t0;
      samples.push(par);
      extra.sequential_ms.push(seq);
      extra.speedup.push(seq / par);
    }
  } else {
    return { samples: [], outcome: "unavailable", note: `no ${variant} case` };
  }
  return { samples, extra, info: { threads: cores } };
}
