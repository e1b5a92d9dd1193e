/**
 * Real-notebook test harness: a real `deno jupyter` kernel, driven through
 * Debian's `jupyter_client`, with its kernelspec in a temporary `JUPYTER_PATH`
 * (never the user's kernels) and the repo root as its working directory, so
 * a cell can `import { job } from "./mod.ts"`. Usage:
 * `await using k = await startKernel(); (await k.execute("1 + 1")).text // "2"`
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { installKernelspec } from "../kernel_ext/install.ts";
import { APT_LINE, missingJupyter } from "../tools/_prereq.ts";
import { KernelProcess } from "./_kernel_process.ts";
import { Kernel, type SessionOptions } from "./_kernel_session.ts";

export { Cell } from "./_kernel_cell.ts";
export type { CellError, DisplayEvent, KernelMessage } from "./_kernel_cell.ts";
export { Kernel } from "./_kernel_session.ts";
export type { ExecuteOptions, RunOptions } from "./_kernel_session.ts";

/** Absolute path of the repo root (the kernel's working directory). */
export const REPO_ROOT: string = fileURLToPath(new URL("..", import.meta.url));
/** Absolute `file://` URL of the repo's `mod.ts`. */
export const MOD_URL: string = new URL("../mod.ts", import.meta.url).href;
const KERNEL_NAME = "bgjobs-test";

/** Options for {@linkcode startKernel}. */
export interface StartKernelOptions extends SessionOptions {
  /** Kernel working directory. @default {REPO_ROOT} */
  cwd?: string;
  /** ms to wait for the kernel to answer. @default {60_000} */
  startTimeout?: number;
  /** More environment for the kernel, e.g. `{ DENO_V8_FLAGS: "--expose-gc" }`. */
  env?: Record<string, string>;
}

async function startKernelOnce(
  options: StartKernelOptions,
): Promise<Kernel> {
  const root = await Deno.makeTempDir({ prefix: "bgjobs_kernel_" });
  const startTimeout = options.startTimeout ?? 60_000;
  let kernel: Kernel | undefined;
  try {
    await installKernelspec({ dir: `${root}/kernels/${KERNEL_NAME}` });
    kernel = new Kernel((onEvent) =>
      new KernelProcess({
        kernel: KERNEL_NAME,
        jupyterPath: root,
        cwd: options.cwd ?? REPO_ROOT,
        startTimeout,
        env: options.env,
      }, onEvent), options);
    await kernel.ready(startTimeout);
    return kernel;
  } catch (error) {
    await kernel?.shutdown();
    await Deno.remove(root, { recursive: true }).catch(() => {}); // if no driver ran
    const missing = await missingJupyter();
    if (missing) {
      throw new Error(`Cannot start a kernel: ${missing}; run ${APT_LINE}`, {
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * Starts a real Deno kernel; dispose it (`await using`) to shut it down. A
 * start that fails because a port of its connection file
 * was taken meanwhile (jupyter_client picks free ports, then the kernel binds
 * them: another process may come between) is tried again.
 */
export async function startKernel(
  options: StartKernelOptions = {},
): Promise<Kernel> {
  for (let attempt = 1;; attempt++) {
    try {
      return await startKernelOnce(options);
    } catch (error) {
      if (attempt >= 3 || !/AddrInUse/.test(String(error))) throw error;
    }
  }
}

/**
 * Starts a real Deno kernel with bgjobs' `mod.ts` already loaded (its npm
 * dependencies too, the first time on a machine), so the cells a test times
 * measure only their own work.
 */
export async function startBgjobsKernel(
  options: StartKernelOptions = {},
): Promise<Kernel> {
  const kernel = await startKernel(options);
  const warm = await kernel.execute('import "./mod.ts";', { timeout: 120_000 });
  if (warm.status !== "ok") {
    await kernel.shutdown();
    throw new Error(`Loading mod.ts in the kernel failed: ${warm.describe()}`);
  }
  return kernel;
}

/** Runs a cell that must succeed; its result as text. */
export async function ok(
  k: Kernel,
  code: string,
  timeout = 60_000,
): Promise<string> {
  const cell = await k.execute(code, { timeout });
  assert.equal(cell.status, "ok", cell.describe());
  return cell.text ?? "";
}
