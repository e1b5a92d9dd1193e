// piscina under Node: a warm pool of one thread per core.
import { createRequire } from "node:module";
import { cores, ctx, emit, runCase } from "./_bench.mjs";

const require = createRequire(`${ctx.nodeModules}/`);
const { Piscina } = require("piscina");
const pool = new Piscina({
  filename: new URL("./piscina_worker.mjs", import.meta.url).href,
  minThreads: cores,
  maxThreads: cores,
});
emit(await runCase((name, arg) => pool.run(arg, { name })));
await pool.destroy();
process.exit(0);
