/**
 * The kernel's handle on one job runtime: a `deno run` process leading its
 * own process group, which the kernel's watcher kills if the kernel dies
 * (see `launch/direct_child.ts`, `launch/launcher.ts` and
 * `launch/watcher.ts`; starting one is in `launch/launch.ts`).
 *
 * @module
 */
import { encodeFrame, readFrames } from "../protocol/frames.ts";
import { writeAll } from "../protocol/byte_streams.ts";
import {
  endGroup,
  exitOf,
  killTree,
  pauseStarting,
  running,
} from "./process_group.ts";
import type { ChannelReader } from "./channel.ts";
import { launch, type Launched } from "./launch.ts";
import type { RuntimeChild } from "./direct_child.ts";
import type { RuntimeSpec } from "../sandbox/runtime_spec.ts";
import {
  endOf,
  isEnd,
  type KernelMessage,
  type RunEnd,
  type RunHandlers,
  type RunMessage,
  type RuntimeMessage,
} from "../protocol/messages.ts";
import { OutputFilter, pump } from "./output.ts";
import type { AttachmentReader } from "../protocol/byte_streams.ts";
import { type BulkSocket, passOn } from "./bulk_socket.ts";
import { prepareWhile } from "../os/fresh_read.ts";

// Jobs running in this process: while any does, a buffer for the next big
// result is made ready (see prepareWhile()).
let runs = 0;
const anyRuns = () => runs > 0;

/** One started job runtime, ready to run one job. */
export class RuntimeProcess {
  readonly pid: number;
  /** Where it runs: on this machine. */
  readonly where = "local";
  readonly spec: RuntimeSpec;
  readonly exited: Promise<Deno.CommandStatus>;
  #child: RuntimeChild;
  #reader: ChannelReader;
  #writer: Deno.FsFile;
  #stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #bulk: BulkSocket | undefined;
  #killed = false;
  #released = false;
  // Its run ended and what was left of it is killed: only its exit to wait.
  #treeKilled = false;
  #sending: Promise<void> = Promise.resolve();
  readonly #marker: string;
  readonly #sentFirst: RunMessage | undefined;
  // Its threads as the job began, when the job was short: see killTree().
  #jobThreads: number | undefined;

  private constructor(
    { child, stdin, reader, writer, bulk }: Launched,
    spec: RuntimeSpec,
    marker: string,
    sentFirst: RunMessage | undefined,
  ) {
    this.#marker = marker;
    this.#sentFirst = sentFirst;
    this.#child = child;
    this.#bulk = bulk;
    this.#reader = reader;
    this.#writer = writer;
    this.spec = spec;
    this.pid = child.pid;
    this.#stdin = stdin;
    this.exited = child.status;
    this.idle();
  }

  /**
   * Starts a runtime and waits until its control channel is up: two FIFOs in
   * a private directory, opened by both sides and then unlinked. The runtime
   * writes to its FIFO synchronously, so `progress()` works in a busy loop.
   *
   * Beside them, a Unix socket carries the big attachments of the result
   * (see `protocol/attachments.ts`); the runtime connects to it once the FIFOs are
   * open, while the kernel gets the job ready, and the kernel unlinks it once
   * it has the connection.
   *
   * `first`, the message of the run this runtime is started for (a runtime
   * that is not from the warm pool), is put in its FIFO before it is even
   * spawned when it is small, so the runtime finds it there as it starts;
   * `run(first)` then does not send it again.
   */
  static async start(
    spec: RuntimeSpec,
    first?: RunMessage,
  ): Promise<RuntimeProcess> {
    const marker = `\0bgjobs-end-${crypto.randomUUID()}\0`;
    const launched = await launch(spec, first && { ...first, marker });
    const sent = launched.sent ? first : undefined;
    return new RuntimeProcess(launched, spec, marker, sent);
  }

  /**
   * Sends a message to the runtime; messages go out whole and in order.
   * Fails silently once the runtime is gone (its run reports how it ended).
   */
  send(message: KernelMessage): Promise<void> {
    return this.#write(encodeFrame(message));
  }

  #write(frame: Uint8Array): Promise<void> {
    this.#sending = this.#sending.then(() => writeAll(this.#writer, frame))
      .catch(() => {});
    return this.#sending;
  }

  /** Lets a plain script exit while this runtime waits in the pool. */
  idle(): void {
    this.#child.unref();
  }

  /**
   * Runs one job: sends `message`, streams output and control messages to
   * `handlers`, and resolves with how the run ended, once the runtime and
   * everything it started are gone.
   */
  async run(message: RunMessage, handlers: RunHandlers): Promise<RunEnd> {
    runs++;
    // A runner passes results on, into buffers of its own (readBehind()).
    if (!passOn.readBehind) prepareWhile(anyRuns);
    try {
      return await this.#run(message, handlers);
    } finally {
      runs--;
    }
  }

  async #run(message: RunMessage, handlers: RunHandlers): Promise<RunEnd> {
    this.#child.ref();
    const marker = this.#marker;
    const output = new OutputFilter(marker, handlers.onOutput);
    const drained = pump(this.#child.stdout, output);
    let end: RunEnd | undefined;
    let frame: Uint8Array | undefined;
    let resume: (() => void) | undefined; // runtimes paused for a big result
    try {
      // The first message may be in the FIFO already (see start()).
      if (message !== this.#sentFirst) {
        frame = encodeFrame({ ...message, marker });
      }
    } catch (error) {
      await this.kill();
      const { name, message } = error as Error;
      return {
        kind: "error",
        error: { name, message: `Cannot send the job its data: ${message}` },
      };
    }
    try {
      // Not awaited: the write completes on a blocking thread, often after
      // the runtime has already answered; #write never rejects.
      if (frame) this.#write(frame);
      for await (
        const msg of readFrames<RuntimeMessage>(
          this.#reader,
          () => {
            resume ??= pauseStarting();
            return this.#bulkReader();
          },
        )
      ) {
        if (isEnd(msg)) {
          end = endOf(msg);
          if (msg.t !== "unreadable") this.#jobThreads = msg.threads;
          break;
        }
        if (msg.t !== "ready") handlers.onMessage(msg);
      }
    } catch {
      // The channel broke: the runtime died; its exit status says how.
    } finally {
      resume?.();
    }
    // The job has ended: kill the group (quicker than Deno's exit, and it
    // takes the job's leftovers too) and wait for its output up to the marker.
    output.hurry();
    const finishing = this.#finish(drained, end !== undefined);
    if (end && !this.#killed) {
      await Promise.race([output.ended, finishing]);
      return end;
    }
    return { kind: "exit", ...exitOf(await finishing) };
  }

  async #finish(
    drained: Promise<void>,
    ended: boolean,
  ): Promise<Deno.CommandStatus> {
    // Without an end the runtime died by itself: let its status tell how.
    if (ended) {
      // A result read behind (a runner passing it on) is read first: the
      // runtime waits for this kill once it has sent it.
      await this.#bulk?.behind();
      killTree(this.pid, this.#jobThreads);
      this.#treeKilled = true;
    }
    const status = await this.exited;
    await this.#release();
    await Promise.race([drained, delay(1000)]);
    return status;
  }

  /**
   * Kills the runtime and everything it started; resolves once gone. Nothing
   * more to do once a run has ended and killed it (the engine kills every
   * runtime of an attempt, ended or not).
   */
  async kill(): Promise<void> {
    if (this.#released) return;
    // Killed already once its result is in; else (a result stuck half-way)
    // killed here.
    if (this.#treeKilled) {
      await this.exited;
      return await this.#release();
    }
    this.#killed = true;
    this.#child.ref(); // an idle runtime is unref'd: wait for it all the same
    const members = killTree(this.pid);
    await this.exited;
    await this.#release();
    // The runtime may be reaped before what it started has died: wait for
    // all of it, so the CPU and memory are free.
    for (let i = 0; i < 1000 && members.some(running); i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  #bulkReader(): Promise<AttachmentReader> {
    if (!this.#bulk) return Promise.reject(new Error("No bulk socket"));
    return this.#bulk.reader();
  }

  // Once the runtime has exited: what is left of its group goes (a job's
  // leftovers, the relay once it has passed everything on), and the channel.
  async #release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    endGroup(this.pid);
    for (const file of [this.#reader, this.#writer]) {
      try {
        file.close();
      } catch { /* already closed */ }
    }
    await this.#bulk?.close();
    await this.#stdin?.close().catch(() => {});
    // Never read (a runtime killed idle): its output's end is closed here.
    if (!this.#child.stdout.locked) {
      await this.#child.stdout.cancel().catch(() => {});
    }
  }
}

/** Resolves after `ms`, without keeping the process alive. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const id = setTimeout(resolve, ms);
    Deno.unrefTimer(id);
  });
}
