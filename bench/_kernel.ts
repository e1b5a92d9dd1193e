/**
 * Bench cases inside a real `deno jupyter` kernel, through the test
 * harness (`tests/_kernel.ts`): cells return their measurements as JSON.
 *
 * @module
 */
import { type Cell, type Kernel, startKernel } from "../tests/_kernel.ts";
import { missingJupyter } from "../tools/_prereq.ts";

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
