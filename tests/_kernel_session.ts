/**
 * The running half of the real-kernel harness: sends cells through the
 * driver process and files every message under the cell it is stamped with.
 *
 * @module
 */
import { Cell, isDisplay, type KernelMessage } from "./_kernel_cell.ts";
import { type DisplayEvent, toDisplayEvent } from "./_kernel_cell.ts";
import { toKernelMessage } from "./_kernel_cell.ts";
import type { DriverEvent, KernelProcess } from "./_kernel_process.ts";

/** How a {@linkcode Kernel} treats its cells. */
export interface SessionOptions {
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

/** Options for {@linkcode Kernel.run}. */
export interface RunOptions extends ExecuteOptions {
  /** Send each cell only once the previous one is idle. @default {true} */
  wait?: boolean;
  /** ms to keep listening after the last cell is done. @default {0} */
  listen?: number;
}

/** A running kernel. Cells run in the order they were submitted. */
export class Kernel implements AsyncDisposable {
  /** Every iopub message received, whichever cell it is stamped with. */
  readonly messages: KernelMessage[] = [];
  /** `kernel_info_reply` content. */
  // deno-lint-ignore no-explicit-any
  info: Record<string, any> = {};

  #process: KernelProcess;
  #options: SessionOptions;
  #cells = new Map<string, Cell>();
  /** Cells by execution count, learned from their `execute_input`. */
  #counted = new Map<number, Cell>();
  #unsent: Cell[] = [];
  #pending = new Set<Cell>();
  #waiters = new Set<() => void>();
  #dead: string | undefined;
  #ready = Promise.withResolvers<void>();
  #interrupts: ((t: number) => void)[] = [];

  /** @internal Use `startKernel()`, which makes the driver process. */
  constructor(
    spawn: (onEvent: (event: DriverEvent) => void) => KernelProcess,
    options: SessionOptions,
  ) {
    this.#options = options;
    this.#process = spawn((event) => this.#onEvent(event));
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

  /**
   * Interrupts the kernel: `"frontend"` as a frontend's Interrupt button does
   * (jupyter_client's `interrupt_kernel()`, by the kernelspec's
   * `interrupt_mode`), `"message"` with an `interrupt_request` on the
   * control channel, `"signal"` with SIGINT to the kernel's process group.
   * Resolves with the epoch ms it was sent (NaN when the kernel died first).
   */
  interrupt(
    mode: "frontend" | "message" | "signal" = "frontend",
  ): Promise<number> {
    if (this.#dead) return Promise.reject(new Error(this.#dead));
    const sent = new Promise<number>((resolve) =>
      this.#interrupts.push(resolve)
    );
    this.#process.send({ op: "interrupt", mode });
    return sent;
  }

  /** Sends a cell and resolves with its record once the kernel is idle again. */
  execute(code: string, options?: ExecuteOptions): Promise<Cell> {
    return this.submit(code, options).done;
  }

  /** Runs cells in order, each once the previous is idle or (`wait: false`)
   * all sent at once; resolves when all are done and `listen` ms passed. */
  async run(codes: string[], options: RunOptions = {}): Promise<Cell[]> {
    const cells: Cell[] = [];
    for (const code of codes) {
      cells.push(this.submit(code, options));
      if (options.wait ?? true) await cells.at(-1)!.done;
    }
    await Promise.all(cells.map((cell) => cell.done));
    await this.listen(options.listen ?? 0);
    return cells;
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
      const timedOut = new Error(`no matching message within ${timeout} ms`);
      const timer = setTimeout(() => finish(() => reject(timedOut)), timeout);
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
    } else if (event.type === "interrupted") {
      this.#interrupts.shift()?.(event.t);
    } else if (event.type === "iopub" || event.type === "reply") {
      this.#onMessage(event.type, toKernelMessage(event.msg, event.t));
    } else if (event.type === "error" || event.type === "died") {
      this.#die(event.message ?? `kernel died (exit code ${event.exit_code})`);
    }
  }

  #onMessage(kind: string, message: KernelMessage): void {
    const { t } = message;
    let cell = this.#cells.get(message.parentMsgId ?? "");
    // Deno's kernel stamps a message with the cell running when it sends it,
    // and may send a cell's value after that cell went idle: with the next
    // cell queued, the value comes stamped with that one. A value says whose
    // it is (its execution count), as the cell's `execute_input` did.
    const count = message.content?.execution_count;
    if (message.msgType === "execute_input" && cell) {
      this.#counted.set(count, cell);
    } else if (message.msgType === "execute_result") {
      cell = this.#counted.get(count) ?? cell;
    }
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
    for (const sent of this.#interrupts.splice(0)) sent(NaN);
    for (const check of this.#waiters) check();
  }
}
