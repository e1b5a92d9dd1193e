/**
 * A new "kernel" for the durable bench: `deno run -A bench/_attach_probe.ts
 * NOTEBOOK_KEY`. Times from before importing bgjobs to `jobs.attach()`
 * resolving, and prints `ms found done` (jobs found, jobs settled).
 *
 * @module
 */
const t0 = performance.now();
const { jobs } = await import("../mod.ts");
jobs.configure({ notebook: Deno.args[0] });
const found = await jobs.attach();
const ms = performance.now() - t0;
const done = found.filter((j) => j.status === "completed").length;
console.log(`${ms.toFixed(2)} ${found.length} ${done}`);
Deno.exit(0);
