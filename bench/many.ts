/**
 * Scenario 8, many separate jobs: 1,000 trivial jobs (`job(() => 1 + 1)`)
 * submitted at once from one script or one cell, at most 4 running at a
 * time, against 1,000 bare `deno run` of an empty file, 4 at a time, in the
 * same process. Each sample is the whole run, given per job: what a job
 * costs beyond the process it runs in (capture, launcher, channel, panel).
 *
 * @module
 */
import { bgjobs } from "./_contenders/bgjobs.ts";
import type { Contender, RunContext, Scenario } from "./_scenario.ts";
import { type Batch, sleep } from "./_stats.ts";

async function bgjobsMany(ctx: RunContext): Promise<Batch> {
  const { job, jobs } = await bgjobs();
  const { count, concurrency } = ctx.params;
  jobs.configure({ maxRunning: concurrency });
  await job(() => 0); // the pool starts with the first job
  const batch: Batch = { samples: [], info: { jobs: count, concurrency } };
  for (let i = 0; i < ctx.n; i++) {
    jobs.flush();
    await sleep(500);
    const t0 = performance.now();
    const all = Array.from({ length: count }, () => job(() => 1 + 1));
    const results = await Promise.all(all);
    batch.samples.push((performance.now() - t0) / count);
    if (results.some((r) => r !== 2)) throw new Error("a job returned wrong");
  }
  jobs.flush();
  await jobs.shutdown();
  return batch;
}

async function bareMany(ctx: RunContext): Promise<Batch> {
  const { count, concurrency } = ctx.params;
  // Outside the repo: a `deno run` inside it would read bgjobs' deno.json
  // and lock file each time (a job runtime runs with --no-config).
  const dir = await Deno.makeTempDir({ prefix: "bgjobs-bench-" });
  const empty = `${dir}/empty.js`;
  await Deno.writeTextFile(empty, "");
  const batch: Batch = { samples: [], info: { jobs: count, concurrency } };
  for (let i = 0; i < ctx.n; i++) {
    await sleep(500);
    const t0 = performance.now();
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < count) {
        next++;
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", empty],
          cwd: dir,
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).output();
        if (!out.success) throw new Error("deno run failed");
      }
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
    batch.samples.push((performance.now() - t0) / count);
  }
  await Deno.remove(dir, { recursive: true });
  return batch;
}

const contenders: Contender[] = [
  { name: "bgjobs", run: bgjobsMany },
  { name: "bare deno run, same concurrency", run: bareMany },
];

const scenario: Scenario = {
  id: "many",
  title: "Many separate jobs",
  url: import.meta.url,
  reference: "bgjobs",
  variants: [{
    id: "many.jobs",
    metric:
      "ms per job: 1,000 `job(() => 1 + 1)` submitted at once, 4 running at a time (quick: 100), against as many bare `deno run` of an empty file, 4 at a time",
    params: (quick) => ({ count: quick ? 100 : 1000, concurrency: 4 }),
    where: ["script", "kernel"],
  }],
  contenders,
  plan: (quick) =>
    quick ? { rounds: 1, perBatch: 1 } : { rounds: 3, perBatch: 1 },
};

export default scenario;
