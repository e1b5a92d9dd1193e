/**
 * What the real-kernel harness (`tests/_kernel.ts`) records about one cell:
 * every iopub message stamped with the cell's `msg_id` (its value, an
 * `execute_result`, by its execution count), its reply, and when
 * each arrived. The record is live: messages that arrive after the reply
 * (late output, display updates) are appended, and the getters see them.
 *
 * @module
 */

/** One Jupyter message as the harness received it. */
export interface KernelMessage {
  /** `header.msg_type`, e.g. `"stream"`, `"update_display_data"`. */
  msgType: string;
  /** Epoch ms when the driver received it (same clock as `Date.now()`). */
  t: number;
  /** The cell (`execute_request` msg_id) the kernel stamped it with. */
  parentMsgId: string | undefined;
  header: Record<string, unknown>;
  parentHeader: Record<string, unknown>;
  metadata: Record<string, unknown>;
  // deno-lint-ignore no-explicit-any
  content: Record<string, any>;
}

/** A `display_data`, `update_display_data` or `execute_result` output. */
export interface DisplayEvent {
  msgType: string;
  /** `transient.display_id`, when the output can be updated. */
  displayId: string | undefined;
  /** The MIME bundle, e.g. `{ "text/plain": "42" }`. */
  data: Record<string, unknown>;
  t: number;
  parentMsgId: string | undefined;
}

/** The error a cell raised. */
export interface CellError {
  ename: string;
  evalue: string;
  traceback: string[];
}

const DISPLAY_TYPES = ["display_data", "update_display_data", "execute_result"];

/** Turns a message as the driver printed it into a {@linkcode KernelMessage}. */
// deno-lint-ignore no-explicit-any
export function toKernelMessage(msg: any, t: number): KernelMessage {
  return {
    msgType: msg.msg_type,
    t,
    parentMsgId: msg.parent_header?.msg_id,
    header: msg.header,
    parentHeader: msg.parent_header,
    metadata: msg.metadata,
    content: msg.content,
  };
}

/** Removes ANSI colour codes (the kernel colours `text/plain` values). */
export function stripAnsi(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

/** Turns a display-like message into a {@linkcode DisplayEvent}. */
export function toDisplayEvent(message: KernelMessage): DisplayEvent {
  return {
    msgType: message.msgType,
    displayId: message.content.transient?.display_id,
    data: message.content.data ?? {},
    t: message.t,
    parentMsgId: message.parentMsgId,
  };
}

/** Whether a message is a display output (initial or update). */
export function isDisplay(message: KernelMessage): boolean {
  return DISPLAY_TYPES.includes(message.msgType);
}

/** The harness's record of one executed cell. */
export class Cell {
  /** The code sent. */
  readonly code: string;
  /** The `execute_request` msg_id; `""` until the driver has sent it. */
  msgId = "";
  /** Epoch ms when the request was sent. */
  sentAt = NaN;
  /** Epoch ms of the kernel's `busy` status for this cell (execution began). */
  startedAt = NaN;
  /** Epoch ms when `execute_reply` arrived. */
  repliedAt = NaN;
  /** Epoch ms of the kernel's `idle` status for this cell. */
  idleAt = NaN;
  /** The reply's content (`status`, `execution_count`, …). */
  // deno-lint-ignore no-explicit-any
  reply: Record<string, any> | undefined;
  /** Every iopub message stamped with this cell, in arrival order (live). */
  readonly messages: KernelMessage[] = [];
  /** Resolves once the reply and the `idle` status are in. */
  readonly done: Promise<Cell>;

  #resolve!: (cell: Cell) => void;
  #reject!: (error: Error) => void;

  constructor(code: string) {
    this.code = code;
    this.done = new Promise<Cell>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.done.catch(() => {}); // a caller who never awaits must not crash
  }

  /** `execute_reply` status: `"ok"`, `"error"` or `"aborted"`. */
  get status(): string | undefined {
    return this.reply?.status;
  }

  /** Execution time in ms: reply minus start of execution (or send). */
  get elapsed(): number {
    const start = Number.isNaN(this.startedAt) ? this.sentAt : this.startedAt;
    return this.repliedAt - start;
  }

  /** All `stdout` stream text. */
  get stdout(): string {
    return this.#stream("stdout");
  }

  /** All `stderr` stream text. */
  get stderr(): string {
    return this.#stream("stderr");
  }

  /** The `execute_result` MIME bundle, if the cell had a value. */
  get result(): Record<string, unknown> | undefined {
    return this.messages.find((m) => m.msgType === "execute_result")?.content
      .data;
  }

  /** The `text/plain` of the cell's value without ANSI colours, if any
   * (the Deno kernel colours it: `"\x1b[33m2\x1b[39m"` for `1 + 1`). */
  get text(): string | undefined {
    const text = this.result?.["text/plain"] as string | undefined;
    return text === undefined ? undefined : stripAnsi(text);
  }

  /** Every display output and update stamped with this cell. */
  get displays(): DisplayEvent[] {
    return this.messages.filter(isDisplay).map(toDisplayEvent);
  }

  /** The error the cell raised (iopub `error`, else an error reply). */
  get error(): CellError | undefined {
    const message = this.messages.find((m) => m.msgType === "error");
    const content = message?.content ??
      (this.reply?.status === "error" ? this.reply : undefined);
    if (!content) return undefined;
    return {
      ename: content.ename,
      evalue: content.evalue,
      traceback: content.traceback ?? [],
    };
  }

  /** A readable account of the cell, for assertion messages. */
  describe(): string {
    const lines = [
      `cell ${this.msgId || "(unsent)"}: ${this.code.slice(0, 200)}`,
      `  status=${this.status} elapsed=${this.elapsed.toFixed(0)}ms`,
    ];
    for (const m of this.messages) {
      if (m.msgType === "status" || m.msgType === "execute_input") continue;
      lines.push(`  ${m.msgType}: ${JSON.stringify(m.content).slice(0, 400)}`);
    }
    return lines.join("\n");
  }

  /** @internal Called by the harness. */
  settle(): void {
    this.#resolve(this);
  }

  /** @internal Called by the harness. */
  fail(error: Error): void {
    this.#reject(error);
  }

  #stream(name: string): string {
    return this.messages
      .filter((m) => m.msgType === "stream" && m.content.name === name)
      .map((m) => m.content.text)
      .join("");
  }
}
