/**
 * Scenario 2, kill latency and completeness: work stuck in each of five
 * ways is stopped, and the clock runs from the stop call until `/proc` shows
 * nothing of it left (no process of its group, no thread of the worker, no
 * subprocess it started) — only then is its CPU free. A contender that does
 * not get there within the observation window is reported as never
 * stopping, with what is left and how busy it is.
 *
 * @module
 */
import { bgjobs } from "./_contenders/bgjobs.ts";
import { startThread, type ThreadKind } from "./_contenders/threads.ts";
import {
  childrenOf,
  commOf,
  groupOf,
  isAlive,
  ownThreads,
  procInfo,
  threadCpu,
  TICKS_PER_SECOND,
  timeUntil,
} from "./_proc.ts";
import type { Contender, RunContext, Scenario } from "./_scenario.ts";
import { type Batch, sleep, type Tally } from "./_stats.ts";

/** The five ways work gets stuck, as JavaScript run by every contender. */
const MODES: Record<string, { title: string; body: (fifo: string) => string }> =
  {
    busy: { title: "a busy loop", body: () => "while (true) {}" },
    timer: {
      title: "awaiting a timer",
      body: () => "await new Promise((r) => setTimeout(r, 1_000_000));",
    },
    atomics: {
      title: "Atomics.wait",
      body: () =>
        "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);",
    },
    fifo: {
      title: "a blocking read (FIFO)",
      body: (fifo) =>
        `Deno.openSync(${JSON.stringify(fifo)}).readSync(new Uint8Array(8));`,
    },
    subprocess: {
      title: "a subprocess (sleep 1000)",
      body: () =>
        'await new Deno.Command("sleep", { args: ["1000"] }).output();',
    },
  };

const STUCK_MS = 150;

function windowMs(quick: boolean): number {
  return quick ? 1000 : 2000;
}

function modeOf(ctx: RunContext): string {
  return ctx.variant.slice("kill.".length);
}

async function makeFifo(work: string): Promise<string> {
  const path = `${work}/kill-fifo-${crypto.randomUUID()}`;
  await new Deno.Command("mkfifo", { args: [path] }).output();
  return path;
}

/** Waits until a `sleep` runs under one of `parents()`; returns its pid. */
async function sleepUnder(parents: () => number[]): Promise<number[]> {
  const find = () =>
    parents().flatMap(childrenOf).filter((pid) => commOf(pid) === "sleep");
  await timeUntil(() => find().length > 0, 3000);
  return find();
}

function record(batch: Batch, key: string, value: number): void {
  ((batch.extra ??= {})[key] ??= []).push(value);
}

/**
 * Records how long the kill took to resolve (it was asked at `t0`), then
 * whether everything was gone in time, or why not.
 */
async function recordKill(
  batch: Batch,
  ctx: RunContext,
  t0: number,
  isGone: () => boolean,
  why: () => string,
): Promise<void> {
  record(batch, "kill_resolved_ms", performance.now() - t0);
  recordStop(batch, await timeUntil(isGone, windowMs(ctx.quick), t0), why);
}

/** Records whether it was all gone in time (`gone` ms), or why not. */
function recordStop(
  batch: Batch,
  gone: number | undefined,
  why: () => string,
): void {
  record(batch, "stopped", gone === undefined ? 0 : 1);
  if (gone !== undefined) batch.samples.push(gone);
  else {
    batch.outcome = "never stops";
    batch.note = why();
  }
}

async function bgjobsKill(ctx: RunContext): Promise<Batch> {
  const { job, jobs } = await bgjobs();
  const mode = modeOf(ctx);
  const fifo = await makeFifo(ctx.work);
  const batch: Batch = { samples: [] };
  await job(() => 0); // start the warm pool
  for (let i = 0; i < ctx.n; i++) {
    await sleep(300);
    const j = job(`share("pid", Deno.pid);\n${MODES[mode].body(fifo)}`);
    const end = Date.now() + 10_000;
    while (!("pid" in j.exports) && Date.now() < end) await sleep(2);
    const pid = j.exports.pid as number;
    const pgid = procInfo(pid)?.pgid ?? pid;
    await sleep(STUCK_MS);
    if (mode === "subprocess") await sleepUnder(() => [pid]);
    if (j.status !== "running") throw new Error(`job ${j.status}: ${j.error}`);
    // Poll the group's known processes (a full /proc scan takes ~2 ms),
    // then make sure with a scan that nothing else of the group is left.
    const members = groupOf(pgid);
    const t0 = performance.now();
    await j.kill();
    await recordKill(
      batch,
      ctx,
      t0,
      () => !members.some(isAlive) && groupOf(pgid).length === 0,
      () =>
        `processes of its group still alive: ${
          groupOf(pgid).map(commOf).join(", ")
        }`,
    );
  }
  await Deno.remove(fifo).catch(() => {});
  await jobs.shutdown();
  return batch;
}

async function threadKill(ctx: RunContext, kind: ThreadKind): Promise<Batch> {
  const mode = modeOf(ctx);
  const fifo = await makeFifo(ctx.work);
  const batch: Batch = { samples: [] };
  const before = new Set(ownThreads().map((t) => t.tid));
  const thread = startThread(kind, `send("ready");\n${MODES[mode].body(fifo)}`);
  await new Promise<void>((resolve) => thread.listen(() => resolve()));
  await sleep(STUCK_MS);
  const tids = ownThreads()
    .filter((t) => !before.has(t.tid) && t.name.startsWith("worker"))
    .map((t) => t.tid);
  const children = mode === "subprocess"
    ? await sleepUnder(() => [Deno.pid])
    : [];
  const t0 = performance.now();
  await thread.terminate();
  record(batch, "kill_resolved_ms", performance.now() - t0);
  const left = (): { threads: number[]; children: number[] } => ({
    threads: tids.filter((tid) => threadCpu(tid) !== undefined),
    children: children.filter(isAlive),
  });
  const window = windowMs(ctx.quick);
  const gone = await timeUntil(
    () => {
      const l = left();
      return l.threads.length === 0 && l.children.length === 0;
    },
    window,
    t0,
  );
  let why = "";
  if (gone === undefined) {
    // How busy is what is left? Watch it for a while longer.
    const { threads } = left();
    const cpu0 = threads.reduce((sum, tid) => sum + (threadCpu(tid) ?? 0), 0);
    const watch = 500;
    await sleep(watch);
    const cpu1 = threads.reduce((sum, tid) => sum + (threadCpu(tid) ?? 0), 0);
    const percent = ((cpu1 - cpu0) / TICKS_PER_SECOND) / (watch / 1000) * 100;
    record(batch, "cpu_after_pct", percent);
    why = describeLeft(left(), percent, window);
  }
  recordStop(batch, gone, () => why);
  for (const pid of children) killPid(pid);
  await Deno.remove(fifo).catch(() => {});
  return batch;
}

function describeLeft(
  left: { threads: number[]; children: number[] },
  percent: number,
  window: number,
): string {
  const after = `${window / 1000} s after terminate()`;
  if (left.children.length) return `its sleep subprocess still runs ${after}`;
  // The percentage is in cpu_after_pct: the note stays the same each time.
  if (percent > 50) return `the thread still spins at full CPU ${after}`;
  return `the thread is still there, blocked (no CPU), ${after}`;
}

function killPid(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch { /* gone */ }
}

async function subprocessKill(ctx: RunContext): Promise<Batch> {
  const mode = modeOf(ctx);
  const fifo = await makeFifo(ctx.work);
  const script = `${ctx.work}/kill-${mode}.ts`;
  await Deno.writeTextFile(
    script,
    `console.log("ready");\n${MODES[mode].body(fifo)}\n`,
  );
  const batch: Batch = { samples: [] };
  for (let i = 0; i < ctx.n; i++) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script],
      stdout: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    await reader.read(); // "ready"
    await sleep(STUCK_MS);
    const children = mode === "subprocess"
      ? await sleepUnder(() => [child.pid])
      : [];
    const t0 = performance.now();
    child.kill("SIGKILL");
    await child.status;
    await recordKill(
      batch,
      ctx,
      t0,
      () => !isAlive(child.pid) && !children.some(isAlive),
      () =>
        "child.kill() stops the deno process only: its sleep subprocess is orphaned and runs on",
    );
    for (const pid of children) killPid(pid);
    reader.cancel().catch(() => {});
  }
  await Deno.remove(fifo).catch(() => {});
  return batch;
}

const contenders: Contender[] = [
  { name: "bgjobs", run: bgjobsKill },
  { name: "Deno.Command subprocess", run: subprocessKill },
  // terminate() may leave the thread spinning: one process per sample.
  {
    name: "Deno Worker",
    run: (ctx) => threadKill(ctx, "deno"),
    perSample: true,
  },
  {
    name: "node:worker_threads",
    run: (ctx) => threadKill(ctx, "node"),
    perSample: true,
  },
];

function stoppedRate(tally: Tally): Record<string, unknown> {
  const stopped = tally.extra.stopped ?? [];
  return stopped.length
    ? {
      stopped_rate: stopped.reduce((a, b) => a + b, 0) / stopped.length,
      stopped: null,
    }
    : {};
}

const scenario: Scenario = {
  id: "kill",
  title: "Kill latency and completeness",
  url: import.meta.url,
  reference: "bgjobs",
  variants: Object.entries(MODES).map(([id, mode]) => ({
    id: `kill.${id}`,
    metric:
      `ms from kill()/terminate() until nothing of the work is left (/proc), stuck in ${mode.title}`,
    derive: stoppedRate,
  })),
  contenders,
  plan: (quick) =>
    quick ? { rounds: 1, perBatch: 2 } : { rounds: 3, perBatch: 4 },
};

export default scenario;
