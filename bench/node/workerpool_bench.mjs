// workerpool under Node: a pool of one worker thread per core.
import { createRequire } from "node:module";
import { cores, ctx, emit, runCase } from "./_bench.mjs";

process.env.BENCH_NODE_MODULES = ctx.nodeModules;
const require = createRequire(`${ctx.nodeModules}/`);
const workerpool = require("workerpool");
const pool = workerpool.pool(
  new URL("./workerpool_worker.mjs", import.meta.url).pathname,
  { minWorkers: cores, maxWorkers: cores, workerType: "thread" },
);
emit(
  await runCase((name, arg) => pool.exec(name, arg === undefined ? [] : [arg])),
);
await pool.terminate();
process.exit(0);
