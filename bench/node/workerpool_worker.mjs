// workerpool's worker: registers the tasks by name.
import { createRequire } from "node:module";
import { cpu, double, stamp } from "./_tasks.mjs";

const require = createRequire(`${process.env.BENCH_NODE_MODULES}/`);
require("workerpool").worker({ cpu, double, stamp });
