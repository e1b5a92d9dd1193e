/**
 * The kernel's handle on one job runtime: a `deno run` process leading its
 * own process group, with a watcher that kills the whole group once the
 * kernel closes the runtime's stdin, or dies.
 *
 * @module
 */
import { encodeFrame, readFrames, writeAll, writeAllSync } from "./_frames.ts";
import {
  exitOf,
  killGroup,
  killTree,
  markStarting,
  pauseStarting,
  running,
} from "./_process.ts";
import {
  BufferedReader,
  channelDir,
  grantChannel,
  openedOrExited,
} from "./_channel.ts";
import { OutputFilter, pump } from "./_output.ts";
import { analyzeFunction } from "./_source.ts";
import type { AttachmentReader } from "./_attachments.ts";
import { type BulkSocket, grantBulk, listenBulk } from "./_bulk_socket.ts";

// The supervisor: a shell that starts a watcher, then becomes the runtime
// (`exec`, so the runtime keeps its pid and leads the process group). fd 3
// keeps the kernel's end of stdin for the watcher (a subshell using the
// shell's own `read`, so no extra program); the runtime itself gets
// /dev/null, its stderr merged into stdout so output keeps its order. When
// stdin reaches end-of-file (the kernel closed it, or the kernel died), the
// watcher SIGKILLs the process group: the runtime and all it started.
const SUPERVISOR =
  "exec 3<&0 2>&1; (while read -r _; do :; done; kill -KILL 0) " +
  '<&3 >/dev/null 2>&1 & exec 3<&- </dev/null; exec "$@"';

// The job runtime is `runtime.ts`, run as one bundled file (`deno task
// bundle`), which loads quicker than its graph of modules.
const RUNTIME_URL = new URL("./_runtime_bundle.js", import.meta.url).href;

// The supervisor must lead a process group of its own (so one kill reaches
// the runtime and all it started). `detached: true` does that, but makes Deno
// fork() the kernel, which stalls it for as long as copying its page tables
// takes: ~45 ms with 1 GB of notebook data. `setsid` (util-linux) makes the
// group after a cheap posix_spawn, and keeps the pid.
let setsidPath: string | false | undefined;
function setsid(): string | undefined {
  setsidPath ??= ["/usr/bin/setsid", "/bin/setsid"].find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  }) ?? false;
  return setsidPath || undefined;
}

/** How to start a runtime: the flags are its permissions and memory cap. */
export interface RuntimeSpec {
  /** `deno run` permission flags. */
  flags: string[];
  /** Whether the job may read / write anywhere (no channel grant to add and revoke). */
  readAll: boolean;
  writeAll: boolean;
  /** Heap cap in MB. */
  memory?: number;
  /** The environment the runtime sees. */
  env: Record<string, string>;
}

/** How a runtime ended a run. */
export type RunEnd =
  | { kind: "result"; value: unknown }
  | { kind: "error"; error: unknown }
  | { kind: "exit"; code: number; signal: string | null };

/** What a running runtime reports besides its end. */
export interface RunHandlers {
  /** A decoded control message (progress, share). */
  onMessage(message: Record<string, unknown>): void;
  /** Text the job wrote to stdout or stderr. */
  onOutput(text: string): void;
}

/** One started job runtime, ready to run one job. */
export class RuntimeProcess {
  readonly pid: number;
  readonly spec: RuntimeSpec;
  readonly exited: Promise<Deno.CommandStatus>;
  #child: Deno.ChildProcess;
  #reader: Deno.FsFile;
  #writer: Deno.FsFile;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #bulk: BulkSocket | undefined;
  #killed = false;
  #sending: Promise<void> = Promise.resolve();
  readonly #marker: string;
  readonly #sentFirst: object | undefined;

  private constructor(
    child: Deno.ChildProcess,
    reader: Deno.FsFile,
    writer: Deno.FsFile,
    spec: RuntimeSpec,
    bulk: BulkSocket | undefined,
    marker: string,
    sentFirst: object | undefined,
  ) {
    this.#marker = marker;
    this.#sentFirst = sentFirst;
    this.#child = child;
    this.#bulk = bulk;
    this.#reader = reader;
    this.#writer = writer;
    this.spec = spec;
    this.pid = child.pid;
    this.#stdin = child.stdin.getWriter();
    this.exited = child.status;
    this.idle();
  }

  /**
   * Starts a runtime and waits until its control channel is up: two FIFOs in
   * a private directory, opened by both sides and then unlinked. The runtime
   * writes to its FIFO synchronously, so `progress()` works in a busy loop.
   *
   * Beside them, a Unix socket carries the big attachments of the result
   * (see `_attachments.ts`); the runtime connects to it once the FIFOs are
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
    first?: object,
  ): Promise<RuntimeProcess> {
    const marker = `\0bgjobs-end-${crypto.randomUUID()}\0`;
    const dir = await channelDir();
    const toJob = `${dir}/in`;
    const fromJob = `${dir}/out`;
    const granted = grantBulk(grantChannel(spec, toJob, fromJob), spec, dir);
    const v8 = spec.memory
      ? [`--v8-flags=--max-old-space-size=${spec.memory}`]
      : [];
    const args = ["run", "--no-prompt", ...granted.flags, ...v8, RUNTIME_URL];
    args.push(dir, spec.readAll ? "0" : "1", spec.writeAll ? "0" : "1");
    args.push(granted.added);
    const shell = ["/bin/sh", "-c", SUPERVISOR, "bgjobs-runtime"];
    const leader = setsid();
    const [program, ...rest] = leader ? [leader, ...shell] : shell;
    const early = first && earlyFrame(toJob, { ...first, marker });
    const child = new Deno.Command(program, {
      args: [...rest, Deno.execPath(), ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
      detached: !leader,
      clearEnv: true,
      env: spec.env,
    }).spawn();
    markStarting(child.pid, true);
    // While the runtime loads: it connects only after opening the FIFOs.
    const bulk = listenBulk(dir);
    const opening = Promise.all([
      Deno.open(fromJob, { read: true }),
      Deno.open(toJob, { write: true }),
    ]);
    try {
      const [reader, writer] = await openedOrExited(opening, child);
      const sent = early ? first : undefined;
      return new RuntimeProcess(
        child,
        reader,
        writer,
        spec,
        bulk,
        marker,
        sent,
      );
    } catch (error) {
      killGroup(child.pid);
      const status = await child.status;
      // Unblock our own pending opens by being the other end ourselves.
      const ends = [
        Deno.open(fromJob, { write: true }),
        Deno.open(toJob, { read: true }),
      ];
      const [mine, theirs] = await Promise.allSettled(ends);
      const [opened] = await Promise.allSettled([opening]);
      for (const end of [mine, theirs]) {
        if (end.status === "fulfilled") end.value.close();
      }
      // A runtime given its job early can run it and exit (0: it sent its
      // end) before this side has seen its channel up: what it sent waits in
      // the FIFO, and run() reads it. Any other early exit is a failed start.
      if (status.success && early && opened.status === "fulfilled") {
        const [reader, writer] = opened.value;
        return new RuntimeProcess(
          child,
          reader,
          writer,
          spec,
          bulk,
          marker,
          first,
        );
      }
      await bulk?.close();
      if (opened.status === "fulfilled") {
        for (const file of opened.value) file.close();
      }
      const said = (await new Response(child.stdout).text()).trim();
      if (!said) throw error;
      throw new Error(`${(error as Error).message}: ${said.slice(-2000)}`, {
        cause: error,
      });
    } finally {
      // The runtime has the FIFO open now (or is gone): the frame put there
      // early stays in it without this end.
      early?.close();
      markStarting(child.pid, false);
      // The socket's directory goes once the runtime connected (bulk.close).
      const names = bulk ? [toJob, fromJob] : [dir];
      for (const name of names) {
        await Deno.remove(name, { recursive: true }).catch(() => {});
      }
    }
  }

  /**
   * Sends a message to the runtime; messages go out whole and in order.
   * Fails silently once the runtime is gone (its run reports how it ended).
   */
  send(message: unknown): Promise<void> {
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
  async run(message: object, handlers: RunHandlers): Promise<RunEnd> {
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
        const frame of readFrames(
          new BufferedReader(this.#reader),
          () => {
            resume ??= pauseStarting();
            return this.#bulkReader();
          },
        )
      ) {
        const msg = frame as Record<string, unknown>;
        if (msg.t === "result") end = { kind: "result", value: msg.value };
        else if (msg.t === "error") end = { kind: "error", error: msg.error };
        else if (msg.t === "unreadable") {
          end = {
            kind: "error",
            error: {
              name: msg.name,
              message: `What the job sent could not be read: ${msg.message}`,
            },
          };
        } else if (msg.t === "analyze") this.#analyze(msg);
        else handlers.onMessage(msg);
        if (end) break;
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

  // The runtime does not load the parser: it asks for a function's analysis.
  #analyze(message: Record<string, unknown>): void {
    const { id, source } = message;
    try {
      this.send({ t: "analysis", id, info: analyzeFunction(String(source)) });
    } catch (error) {
      this.send({ t: "analysis", id, error: (error as Error).message });
    }
  }

  async #finish(
    drained: Promise<void>,
    ended: boolean,
  ): Promise<Deno.CommandStatus> {
    // Without an end the runtime died by itself: let its status tell how.
    if (ended) killTree(this.pid);
    const status = await this.exited;
    killGroup(this.pid);
    await this.#release();
    await Promise.race([drained, delay(1000)]);
    return status;
  }

  /** Kills the runtime and everything it started; resolves once gone. */
  async kill(): Promise<void> {
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

  async #release(): Promise<void> {
    for (const file of [this.#reader, this.#writer]) {
      try {
        file.close();
      } catch { /* already closed */ }
    }
    await this.#bulk?.close();
    await this.#stdin.close().catch(() => {});
  }
}

// What fits in a pipe in one write, whatever its size: a write of this much
// into an empty pipe never blocks.
const PIPE_BUF = 4096;

/**
 * Writes a small first frame into the FIFO at `path` before its reader is
 * there: opened for reading and writing, a FIFO opens at once on Linux, and
 * it keeps what is written while one end stays open. Returns that end (to
 * close once the runtime has the FIFO open), or nothing if the frame is too
 * big or cannot be made.
 */
function earlyFrame(path: string, message: object): Deno.FsFile | undefined {
  let frame: Uint8Array;
  try {
    frame = encodeFrame(message);
  } catch {
    return undefined; // run() sends it, and reports why it cannot
  }
  if (frame.byteLength > PIPE_BUF) return undefined;
  let end: Deno.FsFile | undefined;
  try {
    end = Deno.openSync(path, { read: true, write: true });
    writeAllSync(end, frame);
    return end;
  } catch {
    end?.close(); // nothing is lost: run() sends it the usual way
    return undefined;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const id = setTimeout(resolve, ms);
    Deno.unrefTimer(id);
  });
}
