// piscina's worker: one named export per task.
export { cpu, double, stamp } from "./_tasks.mjs";
