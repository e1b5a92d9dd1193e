/**
 * Runs one batch of a contender in its own process and reads its answer:
 * a line `BENCH_RESULT <json Batch>` on stdout (whatever else it prints is
 * ignored). The process runs in its own process group, killed at the end,
 * so a contender that leaves threads or children behind cannot slow the
 * next one.
 *
 * @module
 */
import type { Contender, RunContext, Scenario } from "./_scenario.ts";
import type { Batch } from "./_stats.ts";

const MARK = "BENCH_RESULT ";
const TAG = "BGJOBS_BENCH_BATCH";
const RUNNER = new URL("./_runner.ts", import.meta.url).pathname;

/** Prints a batch the way the bench reads it (for runner processes). */
export function emitBatch(batch: Batch): void {
  console.log(MARK + JSON.stringify(batch));
}

/** The command line that runs `contender` for `ctx`. */
export function batchCommand(
  scenario: Scenario,
  contender: Contender,
  ctx: RunContext,
): string[] {
  if (contender.command) return contender.command(ctx);
  const job = { scenario: scenario.url, contender: contender.name, ctx };
  return [
    Deno.execPath(),
    "run",
    "-A",
    "--unstable-worker-options",
    RUNNER,
    JSON.stringify(job),
  ];
}

/**
 * Runs a batch; a crash, a timeout or a missing answer becomes a batch with
 * outcome `"failed"` and the end of the process's stderr as its note.
 */
export async function runBatch(
  scenario: Scenario,
  contender: Contender,
  ctx: RunContext,
): Promise<Batch> {
  const [cmd, ...args] = batchCommand(scenario, contender, ctx);
  const tag = crypto.randomUUID();
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
    env: { [TAG]: tag },
  }).spawn();
  const timeoutMs = contender.timeoutMs ?? (ctx.quick ? 60_000 : 180_000);
  const deadline = sleep(timeoutMs).then(() => "timeout" as const);
  const stderr = tail(child.stderr);
  const answer = findMark(child.stdout);
  const first = await Promise.race([answer, deadline]);
  // Give it a moment to exit on its own, then end whatever is left.
  if (first !== "timeout") await Promise.race([child.status, sleep(2000)]);
  killGroup(child.pid);
  await child.status;
  sweep(tag);
  if (typeof first === "string" && first !== "timeout") {
    return JSON.parse(first) as Batch;
  }
  const why = first === "timeout"
    ? `timed out after ${timeoutMs} ms`
    : (await Promise.race([stderr, sleep(1000).then(() => "")]))
      .split("\n").slice(-3).join(" | ");
  return { samples: [], outcome: "failed", note: why.slice(0, 300) };
}

/** Resolves with the JSON after the mark, or `undefined` at end of stream. */
async function findMark(
  stream: ReadableStream<Uint8Array>,
): Promise<string | undefined> {
  let rest = "";
  const lines = stream.pipeThrough(new TextDecoderStream());
  for await (const chunk of lines) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    const line = parts.find((l) => l.startsWith(MARK));
    if (line) return line.slice(MARK.length); // ends the loop: cancels the stream
  }
  return rest.startsWith(MARK) ? rest.slice(MARK.length) : undefined;
}

/** The last 4 KiB of a stream's text, once it ends. */
async function tail(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  try {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text = (text + chunk).slice(-4096);
    }
  } catch { /* the process was killed */ }
  return text.trim();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const id = setTimeout(resolve, ms);
    Deno.unrefTimer(id);
  });
}

/**
 * Kills every process that carries this batch's tag in its environment:
 * what a batch started in sessions of its own (ipyparallel's controller and
 * engines) and left behind.
 */
function sweep(tag: string): void {
  const needle = `${TAG}=${tag}`;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const environ = Deno.readTextFileSync(`/proc/${entry.name}/environ`);
      if (environ.includes(needle)) Deno.kill(Number(entry.name), "SIGKILL");
    } catch { /* gone, or not ours to read */ }
  }
}

function killGroup(pid: number): void {
  try {
    Deno.kill(-pid, "SIGKILL");
  } catch { /* already gone */ }
}
