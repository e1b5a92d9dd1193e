/**
 * Bench cases inside a real `deno jupyter` kernel, through the test
 * harness (`tests/_kernel.ts`): cells return their measurements as JSON.
 *
 * @module
 */
import { type Cell, type Kernel, startKernel } from "../tests/_kernel.ts";
import { missingJupyter } from "../tools/_prereq.ts";
import type { Contender, RunContext, Scenario } from "./_scenario.ts";
import type { Batch } from "./_stats.ts";

export type { Cell, Kernel };

/**
 * Starts a kernel with `mod.ts` loaded, or says why it cannot.
 *
 * @returns The kernel, or the reason as a string.
 */
export async function benchKernel(): Promise<Kernel | string> {
  const missing = await missingJupyter();
  if (missing) return `no Jupyter here: ${missing}`;
  const kernel = await startKernel({ timeout: 120_000 });
  const load = await kernel.execute(
    'import { job, jobs } from "./mod.ts"; 0',
    { timeout: 120_000 },
  );
  if (load.status !== "ok") {
    await kernel.shutdown();
    return `mod.ts did not load in the kernel: ${load.describe()}`;
  }
  return kernel;
}

/**
 * Runs a cell whose value is a JSON string and returns it parsed.
 *
 * @throws {Error} When the cell fails or has no such value.
 */
export async function cellJson<T>(
  kernel: Kernel,
  code: string,
  timeout = 60_000,
): Promise<T> {
  const cell = await kernel.execute(code, { timeout });
  const text = cell.text;
  if (cell.status !== "ok" || text === undefined) {
    throw new Error(`cell failed: ${cell.describe().slice(0, 600)}`);
  }
  // Deno shows a string in double quotes, or single ones when it holds "…".
  const inner = text.startsWith("'")
    ? text.slice(1, -1)
    : text.startsWith('"')
    ? JSON.parse(text)
    : text;
  return JSON.parse(inner) as T;
}

const RUNNER = new URL("./_runner.ts", import.meta.url).href;
const MARK = "BENCH_RESULT ";

/**
 * Runs one batch of a contender in a cell of `kernel` (see `_runner.ts`):
 * the kernel imports the scenario file and calls the contender, as a
 * notebook cell would. A cell that fails or times out gives a failed batch.
 */
export async function kernelBatch(
  kernel: Kernel,
  scenario: Scenario,
  contender: Contender,
  ctx: RunContext,
): Promise<Batch> {
  const job = { scenario: scenario.url, contender: contender.name, ctx };
  const code =
    `const { runContender } = await import(${JSON.stringify(RUNNER)});\n` +
    `console.log(${JSON.stringify(MARK)} + JSON.stringify(await runContender(${
      JSON.stringify(JSON.stringify(job))
    })));`;
  const timeout = contender.timeoutMs ?? (ctx.quick ? 60_000 : 180_000);
  try {
    const cell = await kernel.execute(code, { timeout });
    const line = cell.stdout.split("\n").find((l) => l.startsWith(MARK));
    if (cell.status !== "ok" || !line) {
      throw new Error(`cell failed: ${cell.describe()}`);
    }
    return JSON.parse(line.slice(MARK.length)) as Batch;
  } catch (error) {
    const note = (error as Error).message.replace(/\s+/g, " ").slice(0, 300);
    return { samples: [], outcome: "failed", note };
  }
}
