/**
 * Real-notebook test harness: a real `deno jupyter` kernel, driven through
 * Debian's `jupyter_client`, with its kernelspec in a temporary `JUPYTER_PATH`
 * (never the user's kernels) and the repo root as its working directory, so
 * a cell can `import { job } from "./mod.ts"`. Usage:
 * `await using k = await startKernel(); (await k.execute("1 + 1")).text // "2"`
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { installKernelspec } from "../kernel_ext/install.ts";
import { APT_LINE, missingJupyter } from "../tools/_prereq.ts";
import { Cell, isDisplay, type KernelMessage } from "./_kernel_cell.ts";
import { type DisplayEvent, toDisplayEvent } from "./_kernel_cell.ts";
import { toKernelMessage } from "./_kernel_cell.ts";
import { type DriverEvent, KernelProcess } from "./_kernel_process.ts";

export { Cell };
export type { DisplayEvent, KernelMessage };

/** Absolute path of the repo root (the kernel's working directory). */
export const REPO_ROOT: string = fileURLToPath(new URL("..", import.meta.url));
/** Absolute `file://` URL of the repo's `mod.ts`. */
export const MOD_URL: string = new URL("../mod.ts", import.meta.url).href;
const KERNEL_NAME = "bgjobs-test";

/** Options for {@linkcode startKernel}. */
export interface StartKernelOptions {
  /** Kernel working directory. @default {REPO_ROOT} */
  cwd?: string;
  /** ms to wait for the kernel to answer. @default {60_000} */
  startTimeout?: number;
  /** Default per-cell timeout in ms (from send to idle). @default {60_000} */
  timeout?: number;
  /** ms to keep listening after a cell's idle status before it resolves:
   * the Deno kernel sometimes publishes a cell's stream output or even its
   * execute_result a few ms after the cell's idle status.
   * @default {50} */
  linger?: number;
}

/** Options for {@linkcode Kernel.execute}. */
export interface ExecuteOptions {
  /** ms from send to idle before the cell's promise rejects. */
  timeout?: number;
  /** Jupyter's `stop_on_error`: abort queued cells after an error. @default {false} */
  stopOnError?: boolean;
}

/** Starts a real Deno kernel; dispose it (`await using`) to shut it down. */
export async function startKernel(
  options: StartKernelOptions = {},
): Promise<Kernel> {
  const root = await Deno.makeTempDir({ prefix: "bgjobs_kernel_" });
  let kernel: Kernel | undefined;
  try {
    await installKernelspec({ dir: `${root}/kernels/${KERNEL_NAME}` });
    kernel = new Kernel(root, options);
    await kernel.ready(options.startTimeout ?? 60_000);
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

/** A running kernel. Cells run in the order they were submitted. */
export class Kernel implements AsyncDisposable {
  /** Every iopub message received, whichever cell it is stamped with. */
  readonly messages: KernelMessage[] = [];
  /** `kernel_info_reply` content. */
  // deno-lint-ignore no-explicit-any
  info: Record<string, any> = {};

  #process: KernelProcess;
  #options: StartKernelOptions;
  #cells = new Map<string, Cell>();
  #unsent: Cell[] = [];
  #pending = new Set<Cell>();
  #waiters = new Set<() => void>();
  #dead: string | undefined;
  #ready = Promise.withResolvers<void>();

  /** @internal Use {@linkcode startKernel}. */
  constructor(jupyterPath: string, options: StartKernelOptions) {
    this.#options = options;
    this.#process = new KernelProcess({
      kernel: KERNEL_NAME,
      jupyterPath,
      cwd: options.cwd ?? REPO_ROOT,
      startTimeout: options.startTimeout ?? 60_000,
    }, (event) => this.#onEvent(event));
    this.#process.exited.then((code) => {
      this.#die(`kernel driver exited (code ${code})`);
    });
  }

  /** Kernel and driver stderr seen so far (last 64 KiB). */
  get stderr(): string {
    return this.#process.stderr;
  }

  /** @internal Resolves when the kernel answered kernel_info. */
  ready(timeout: number): Promise<void> {
    const timer = setTimeout(
      () => this.#die(`kernel did not start within ${timeout} ms`),
      timeout,
    );
    return this.#ready.promise.finally(() => clearTimeout(timer));
  }

  /** Sends a cell now (not waiting for earlier ones) and returns its live record. */
  submit(code: string, options: ExecuteOptions = {}): Cell {
    const cell = new Cell(code);
    if (this.#dead) {
      cell.fail(new Error(this.#dead));
      return cell;
    }
    this.#unsent.push(cell);
    this.#pending.add(cell);
    const timeout = options.timeout ?? this.#options.timeout ?? 60_000;
    const timer = setTimeout(() => {
      this.#pending.delete(cell);
      cell.fail(
        new Error(`cell timed out after ${timeout} ms\n${cell.describe()}`),
      );
    }, timeout);
    cell.done.then(() => clearTimeout(timer), () => clearTimeout(timer));
    this.#process.send({
      op: "execute",
      code,
      stop_on_error: options.stopOnError ?? false,
    });
    return cell;
  }

  /** Sends a cell and resolves with its record once the kernel is idle again. */
  execute(code: string, options?: ExecuteOptions): Promise<Cell> {
    return this.submit(code, options).done;
  }

  /** Keeps listening for `ms` (late display updates land in the cells). */
  listen(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** Resolves with the first message (already received or new) matching `test`. */
  waitFor(
    test: (message: KernelMessage) => boolean,
    timeout = 30_000,
  ): Promise<KernelMessage> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.messages.find(test);
        if (found) finish(() => resolve(found));
        else if (this.#dead) finish(() => reject(new Error(this.#dead)));
      };
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        settle();
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(new Error(`no matching message within ${timeout} ms`))
          ),
        timeout,
      );
      this.#waiters.add(check);
      check();
    });
  }

  /** Every display output and update with this `display_id`, from any cell. */
  displays(displayId: string): DisplayEvent[] {
    return this.messages.filter(isDisplay).map(toDisplayEvent)
      .filter((event) => event.displayId === displayId);
  }

  /** Shuts the kernel down (idempotent); pending cells reject. */
  async shutdown(): Promise<void> {
    await this.#process.close();
    this.#die("kernel was shut down");
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  #onEvent(event: DriverEvent): void {
    if (event.type === "ready") {
      this.info = event.kernel_info;
      this.#ready.resolve();
    } else if (event.type === "sent") {
      const cell = this.#unsent.shift()!;
      cell.msgId = event.msg_id;
      cell.sentAt = event.t;
      this.#cells.set(cell.msgId, cell);
    } else if (event.type === "iopub" || event.type === "reply") {
      this.#onMessage(event.type, toKernelMessage(event.msg, event.t));
    } else if (event.type === "error" || event.type === "died") {
      this.#die(event.message ?? `kernel died (exit code ${event.exit_code})`);
    }
  }

  #onMessage(kind: string, message: KernelMessage): void {
    const t = message.t;
    const cell = this.#cells.get(message.parentMsgId ?? "");
    if (kind === "reply") {
      if (!cell) return;
      cell.reply = message.content;
      cell.repliedAt = t;
    } else {
      this.messages.push(message);
      cell?.messages.push(message);
      if (cell && message.msgType === "status") {
        if (message.content.execution_state === "busy") cell.startedAt = t;
        if (message.content.execution_state === "idle") cell.idleAt = t;
      }
      for (const check of this.#waiters) check();
    }
    if (cell && this.#pending.has(cell) && cell.reply && cell.idleAt) {
      this.#pending.delete(cell);
      setTimeout(() => cell.settle(), this.#options.linger ?? 50);
    }
  }

  #die(reason: string): void {
    if (this.#dead) return;
    const tail = this.stderr.trim().split("\n").slice(-20).join("\n");
    this.#dead = tail ? `${reason}\nkernel stderr:\n${tail}` : reason;
    const error = new Error(this.#dead);
    this.#ready.reject(error);
    for (const cell of this.#pending) cell.fail(error);
    this.#pending.clear();
    for (const check of this.#waiters) check();
  }
}
