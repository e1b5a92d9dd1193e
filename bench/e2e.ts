/**
 * Scenario 9, end to end: from the call that starts the work to the
 * notebook holding its result, for work that makes a 50 MB `Float64Array`
 * (`new Float64Array(n).fill(1)`), in a script and in a real kernel. The
 * work stamps when it began and when it had its value, so each sample
 * splits into start, compute and transfer; the targets hold the whole to
 * the parts measured on their own (`start.*`, `transfer.f64*`). Every
 * contender lets go of a sample's result before the next.
 *
 * @module
 */
import { preparePool } from "./_contenders/bgjobs.ts";
import { startThread } from "./_contenders/threads.ts";
import type { Contender, RunContext, Scenario } from "./_scenario.ts";
import { type Batch, epochNow, sleep } from "./_stats.ts";

const STAMP = "performance.timeOrigin + performance.now()";

/** The work, as a function's source: `[value, began, computed]`. */
function work(count: number): string {
  return `() => { const began = ${STAMP}; ` +
    `const value = new Float64Array(${count}).fill(1); ` +
    `return [value, began, ${STAMP}]; }`;
}

type Stamped = [Float64Array, number, number];

function record(
  batch: Batch,
  t0: number,
  [value, began, computed]: Stamped,
  count: number,
): void {
  const t1 = epochNow();
  if (!(value instanceof Float64Array) || value.length !== count) {
    throw new Error("the result arrived wrong");
  }
  batch.samples.push(t1 - t0);
  const extra = batch.extra!;
  (extra.start_ms ??= []).push(began - t0);
  (extra.compute_ms ??= []).push(computed - began);
  (extra.transfer_ms ??= []).push(t1 - computed);
}

async function bgjobsE2e(ctx: RunContext): Promise<Batch> {
  const { job, jobs } = await preparePool("warm", ctx.quick);
  const { count } = ctx.params;
  const fn = (0, eval)(`(${work(count)})`) as () => Stamped;
  const batch: Batch = { samples: [], extra: {} };
  for (let i = 0; i < ctx.n; i++) {
    await sleep(500);
    const t0 = epochNow();
    record(batch, t0, await job(fn), count);
    jobs.flush(); // the result let go, as the contenders' are
  }
  await jobs.shutdown();
  return batch;
}

/** A Worker started before timing: the work is posted to it. */
async function workerE2e(ctx: RunContext): Promise<Batch> {
  const { count } = ctx.params;
  const batch: Batch = { samples: [], extra: {} };
  for (let i = 0; i < ctx.n; i++) {
    const thread = startThread(
      "deno",
      `const work = ${
        work(count)
      }; receive(() => send(work())); send("ready");`,
      ctx.where,
    );
    let answer = Promise.withResolvers<unknown>();
    thread.listen((m) => answer.resolve(m));
    await answer.promise;
    answer = Promise.withResolvers<unknown>();
    await sleep(200);
    const t0 = epochNow();
    thread.post("go");
    record(batch, t0, await answer.promise as Stamped, count);
    await thread.terminate();
  }
  return batch;
}

/** A `deno run` of the work, its bytes read from the child's stdout. */
async function subprocessE2e(ctx: RunContext): Promise<Batch> {
  const { count } = ctx.params;
  const script = `${ctx.work}/e2e-pipe.ts`;
  await Deno.writeTextFile(
    script,
    `const [value, began, computed] = (${work(count)})();\n` +
      `const head = new Float64Array([began, computed]);\n` +
      `Deno.stdout.writeSync(new Uint8Array(head.buffer));\n` +
      `const bytes = new Uint8Array(value.buffer);\n` +
      `let off = 0; while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));\n`,
  );
  const batch: Batch = { samples: [], extra: {} };
  for (let i = 0; i < ctx.n; i++) {
    await sleep(200);
    const t0 = epochNow();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script],
      stdout: "piped",
    }).spawn();
    const buffer = new Uint8Array(16 + count * 8);
    let off = 0;
    for await (const chunk of child.stdout) {
      buffer.set(chunk, off);
      off += chunk.length;
    }
    const [began, computed] = new Float64Array(buffer.buffer, 0, 2);
    const value = new Float64Array(buffer.buffer, 16, count);
    record(batch, t0, [value, began, computed], count);
    await child.status;
  }
  return batch;
}

const contenders: Contender[] = [
  { name: "bgjobs", run: bgjobsE2e },
  { name: "Deno Worker (started ahead)", run: workerE2e },
  {
    name: "Deno.Command subprocess (bytes through a pipe)",
    run: subprocessE2e,
  },
];

const scenario: Scenario = {
  id: "e2e",
  title: "End to end: call → the notebook holding a 50 MB result",
  url: import.meta.url,
  reference: "bgjobs",
  variants: [{
    id: "e2e.f64",
    metric:
      "ms from the call to holding `new Float64Array(6,553,600).fill(1)` made by the work (quick: 10 MiB); start_ms, compute_ms and transfer_ms split it by the work's own stamps",
    params: (quick) => ({ count: (quick ? 10 : 50) * 2 ** 20 / 8 }),
    where: ["script", "kernel"],
  }],
  contenders,
  plan: (quick) =>
    quick ? { rounds: 1, perBatch: 2 } : { rounds: 3, perBatch: 3 },
};

export default scenario;
