/**
 * Scenario 5, notebook responsiveness under load, in a real `deno jupyter`
 * kernel: the round trip of a trivial cell (execute_request sent →
 * execute_reply received, as the frontend sees it) while the kernel is
 * idle, and while two CPU-bound jobs and one job printing 100,000 lines a
 * second (in batches every ~2 ms) run. Rounds alternate idle and loaded.
 * Also reported: the lines a second the flood job reached, and the kernel's
 * CPU time per line received (the kernel's whole CPU use while loaded,
 * panels and round trips included, over the lines).
 *
 * @module
 */
import { benchKernel, cellJson, type Kernel } from "./_kernel.ts";
import type { CustomContext, Scenario } from "./_scenario.ts";
import { addBatch, type Batch, newTally, sleep, type Tally } from "./_stats.ts";

const IDLE = "idle kernel";
const LOADED = "bgjobs: 2 CPU jobs + log flood";

// The flood job keeps pace with the clock at 100,000 lines a second: every
// ~2 ms it prints the lines due since the last batch (at most 10,000 at a
// time, so after a stall it does not burst), joined into one console.log.
// One console.log per line costs the job ~5-13 µs (a write to the pipe each),
// which is what capped the line-by-line version at ~50,000 lines/s here.
const LOAD = `
const benchCpu1 = job(() => { while (true) {} }, { name: "cpu 1" });
const benchCpu2 = job(() => { while (true) {} }, { name: "cpu 2" });
const benchFlood = job(async () => {
  const t0 = performance.now();
  let n = 0;
  for (;;) {
    const due = Math.min(n + 10_000, Math.floor((performance.now() - t0) * 100));
    if (due > n) {
      const lines = [];
      while (n < due) lines.push("flood line " + n++);
      console.log(lines.join("\\n"));
      progress(n);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
}, { name: "flood" });
0`;

const KERNEL_RSS =
  'JSON.stringify(Number(/VmRSS:\\s+(\\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))[1]) / 1024)';

/** The kernel's CPU time so far (user + system), in ms. */
const KERNEL_CPU_MS =
  'JSON.stringify(Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ").slice(11, 13).reduce((a, b) => a + Number(b) * 10, 0))';

/**
 * `[lines the kernel has received from the flood job, its CPU ms]`: the
 * last line in the job's logs holds its number.
 */
const RECEIVED =
  `JSON.stringify([Number(/(\\d+)\\n?$/.exec(benchFlood.logs.slice(-40))?.[1] ?? -1) + 1, ${
    KERNEL_CPU_MS.slice(15, -1)
  }])`;

async function roundTrips(kernel: Kernel, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    await sleep(50);
    const cell = await kernel.execute("1");
    if (cell.status !== "ok") throw new Error(cell.describe());
    out.push(cell.repliedAt - cell.sentAt);
  }
  return out;
}

async function responsiveness(ctx: CustomContext): Promise<Map<string, Tally>> {
  const tallies = new Map([[IDLE, newTally()], [LOADED, newTally()]]);
  const kernel = await benchKernel();
  if (typeof kernel === "string") {
    for (const tally of tallies.values()) {
      addBatch(tally, { samples: [], outcome: "unavailable", note: kernel });
    }
    return tallies;
  }
  const { rounds, cells } = ctx.quick
    ? { rounds: 1, cells: 5 }
    : { rounds: 3, cells: 12 };
  try {
    for (let round = 0; round < rounds; round++) {
      ctx.log(`responsive.kernel: idle (round ${round + 1}/${rounds})`);
      await sleep(500);
      const idleCpu0 = await cellJson<number>(kernel, KERNEL_CPU_MS);
      const t1 = performance.now();
      const idle: Batch = {
        samples: await roundTrips(kernel, cells),
        extra: {},
      };
      const idleCpu = await cellJson<number>(kernel, KERNEL_CPU_MS) - idleCpu0;
      idle.extra!.kernel_cpu_pct = [
        idleCpu / 10 / ((performance.now() - t1) / 1000),
      ];
      idle.extra!.kernel_rss_mb = [await cellJson<number>(kernel, KERNEL_RSS)];
      addBatch(tallies.get(IDLE)!, idle);

      ctx.log(`responsive.kernel: loaded (round ${round + 1}/${rounds})`);
      const load = await kernel.execute(LOAD);
      if (load.status !== "ok") throw new Error(load.describe());
      await sleep(1000); // let the jobs get going
      const [started, cpu0] = await cellJson<[number, number]>(
        kernel,
        RECEIVED,
      );
      const t0 = performance.now();
      const loaded: Batch = {
        samples: await roundTrips(kernel, cells),
        extra: {},
      };
      const [received, cpu1] = await cellJson<[number, number]>(
        kernel,
        RECEIVED,
      );
      const seconds = (performance.now() - t0) / 1000;
      const lines = received - started;
      loaded.extra!.flood_lines_per_s = [lines / seconds];
      loaded.extra!.kernel_cpu_pct = [(cpu1 - cpu0) / 10 / seconds];
      loaded.extra!.kernel_us_per_line = [(cpu1 - cpu0) * 1000 / lines];
      const running = await cellJson<number>(
        kernel,
        "JSON.stringify(jobs.running.length)",
      );
      loaded.extra!.kernel_rss_mb = [
        await cellJson<number>(kernel, KERNEL_RSS),
      ];
      if (running !== 3) {
        loaded.outcome = "failed";
        loaded.note = `${running} of the 3 load jobs were running`;
      }
      addBatch(tallies.get(LOADED)!, loaded);
      await kernel.execute("await jobs.killAll(); 0", { timeout: 30_000 });
    }
  } catch (error) {
    const note = `kernel case stopped: ${
      (error as Error).message.slice(0, 300)
    }`;
    for (const tally of tallies.values()) {
      addBatch(tally, { samples: [], outcome: "failed", note });
    }
  } finally {
    await kernel.shutdown();
  }
  return tallies;
}

const scenario: Scenario = {
  id: "responsive",
  title: "Notebook responsiveness under load",
  url: import.meta.url,
  reference: IDLE,
  variants: [{
    id: "responsive.kernel",
    metric:
      "ms round trip of a trivial cell (execute_request → execute_reply) in a real kernel",
    custom: responsiveness,
  }],
  contenders: [],
  plan: () => ({ rounds: 1, perBatch: 1 }),
};

export default scenario;
