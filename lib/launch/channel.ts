// The control channel between the kernel and a job runtime: two FIFOs the
// runtime is allowed to open, waiting for the runtime, and reading what it
// sends (from its FIFO, or through its launcher's relay, see
// `launch/launcher.ts`).
import type { RuntimeSpec } from "../sandbox/runtime_spec.ts";
import { extendGrant } from "../sandbox/permissions.ts";
import { encodeFrame, PIPE_BUF } from "../protocol/frames.ts";
import { writeAllSync } from "../protocol/byte_streams.ts";
import type { RunMessage } from "../protocol/messages.ts";
import { makeFifo } from "../os/libc.ts";

/**
 * A fresh path for a channel directory in the temporary directory
 * (`$TMPDIR`, else `/tmp`), not made yet: its launcher is started first, so
 * whatever ends this process, the launcher is there to remove it.
 *
 * @returns The path.
 */
export function channelDirPath(): string {
  let tmp = "/tmp";
  try {
    if (
      Deno.permissions.querySync({ name: "env", variable: "TMPDIR" }).state ===
        "granted"
    ) tmp = Deno.env.get("TMPDIR") || tmp;
  } catch { /* no env access: /tmp */ }
  const hex = crypto.getRandomValues(new Uint8Array(8)).toHex();
  return `${tmp.replace(/\/+$/, "") || "/"}/bgjobs-${hex}`;
}

/**
 * Makes the private directory `dir` (it must not exist) holding two fresh
 * FIFOs, `in` and `out` (through libc where this process may, else with the
 * `mkfifo` program).
 *
 * @param dir Its path, from {@linkcode channelDirPath}.
 * @throws When the temporary directory is not writable, or `mkfifo` fails.
 */
export async function makeChannelDir(dir: string): Promise<void> {
  try {
    Deno.mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    throw new Error(
      `Cannot make the job channel in the temporary directory: ${
        (error as Error).message
      }; point TMPDIR at a writable directory`,
      { cause: error },
    );
  }
  try {
    if (makeFifo(`${dir}/in`, 0o600) && makeFifo(`${dir}/out`, 0o600)) return;
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(`Cannot make the job channel in ${dir}`, { cause: error });
  }
  const made = await new Deno.Command("mkfifo", {
    args: ["-m", "600", `${dir}/in`, `${dir}/out`],
    stdin: "null",
  }).output();
  if (!made.success) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    const why = new TextDecoder().decode(made.stderr).trim();
    throw new Error(`Cannot make the job channel in ${dir}: ${why}`);
  }
}

// The runtime may open its two FIFOs, and no more: a grant the job's own
// permissions do not already cover is added here and revoked by the runtime
// right after opening (a revoke also drops grants of parent directories, so
// only an uncovered path is ever added).
export function grantChannel(
  spec: RuntimeSpec,
  toJob: string,
  fromJob: string,
): string[] {
  let flags = spec.flags;
  if (!spec.readAll) flags = extendGrant(flags, "read", toJob);
  if (!spec.writeAll) flags = extendGrant(flags, "write", fromJob);
  return flags;
}

/** Waits for `pending`, failing if the runtime exits or takes over 30 s. */
export async function untilExit<T>(
  pending: Promise<T>,
  child: { status: Promise<Deno.CommandStatus> },
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const failed = new Promise<never>((_, reject) => {
    child.status.then((s) =>
      reject(
        new Error(`Job runtime exited with code ${s.code} before it was ready`),
      )
    );
    timer = setTimeout(
      () => reject(new Error("Job runtime did not start within 30 s")),
      30_000,
    );
  });
  failed.catch(() => {}); // settles after the race too, when the runtime ends
  try {
    return await Promise.race([pending, failed]);
  } finally {
    clearTimeout(timer);
  }
}

/** What the kernel reads a runtime's control messages from. */
export interface ChannelReader {
  /** Reads into `p`; `null` at the end. */
  read(p: Uint8Array): Promise<number | null>;
  /** Stops reading. */
  close(): void;
}

/**
 * Reads a byte stream (a child process's pipe, which Deno reads on its event
 * loop) as a `read(p)` reader, keeping what a chunk holds beyond one read.
 */
export class StreamReader implements ChannelReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** Reads into `p` what is left of the last chunk, else of the next one. */
  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunk.byteLength === 0) {
      const { value, done } = await this.#reader.read();
      if (done) return null;
      this.#chunk = value;
    }
    const n = Math.min(p.byteLength, this.#chunk.byteLength);
    p.set(this.#chunk.subarray(0, n));
    this.#chunk = this.#chunk.subarray(n);
    return n;
  }

  /** Stops reading: the stream is cancelled. */
  close(): void {
    this.#reader.cancel().catch(() => {});
  }
}

/**
 * Opens the kernel's ends of the FIFO at `path`. One for reading and writing
 * first: so opened, a FIFO opens at once on Linux (without waiting for the
 * runtime to open the other end), and keeps what is written while one end
 * stays open; then the write end the kernel uses (which opens at once as the
 * first is a reader). A small `message` is written right away, for the
 * runtime to find as it starts. Returns both ends (the first is closed once
 * the runtime has the FIFO open: from then on writes to a runtime that is
 * gone fail) and whether the message is in.
 *
 * @throws When the FIFO cannot be opened.
 */
export function holdFifo(
  path: string,
  message: RunMessage | undefined,
): { end: Deno.FsFile; writer: Deno.FsFile; sent: boolean } {
  const end = Deno.openSync(path, { read: true, write: true });
  let writer: Deno.FsFile;
  try {
    writer = Deno.openSync(path, { write: true });
  } catch (error) {
    end.close();
    throw error;
  }
  const held = { end, writer, sent: false };
  if (!message) return held;
  let frame: Uint8Array;
  try {
    frame = encodeFrame(message);
  } catch {
    return held; // run() sends it, and reports why it cannot
  }
  if (frame.byteLength > PIPE_BUF) return held;
  writeAllSync(writer, frame);
  return { ...held, sent: true };
}

// A FIFO read by the kernel itself holds one of Deno's threads for file
// operations (32 in all) while a read waits: at most this many runtimes are
// read so at once; the others' launchers relay their FIFO into a pipe.
const DIRECT_MAX = 12;
let direct = 0;

/**
 * Whether the kernel may read one more runtime's FIFO itself now.
 *
 * @returns `true` while fewer than the most are read so.
 */
export function fifoFree(): boolean {
  return direct < DIRECT_MAX;
}

/**
 * Opens the runtime's FIFO `path` for the kernel to read directly, unless
 * that many are read so already (then `undefined`: take the relay). The
 * FIFO is held open for writing too until {@linkcode FifoReader.release} (the
 * runtime's ready message, or its failed start): so this open and the
 * runtime's do not wait for each other, and a runtime that never opens it
 * leaves no read waiting forever; from then on its end is the runtime's.
 *
 * @throws When the FIFO cannot be opened.
 */
export function readFifo(path: string): FifoReader | undefined {
  if (direct >= DIRECT_MAX) return undefined;
  const hold = Deno.openSync(path, { read: true, write: true });
  try {
    return new FifoReader(hold, Deno.openSync(path, { read: true }));
  } catch (error) {
    hold.close();
    throw error;
  }
}

/** A runtime's FIFO as the kernel reads it (see {@linkcode readFifo}). */
export class FifoReader implements ChannelReader {
  #hold: Deno.FsFile | undefined;
  #file: Deno.FsFile | undefined;

  constructor(hold: Deno.FsFile, file: Deno.FsFile) {
    this.#hold = hold;
    this.#file = file;
    direct++;
  }

  /** Lets the FIFO end once the runtime closes it. */
  release(): void {
    try {
      this.#hold?.close();
    } catch { /* closed */ }
    this.#hold = undefined;
  }

  /** Reads what the FIFO has, up to `p`'s length; `null` once it ended. */
  async read(p: Uint8Array): Promise<number | null> {
    const file = this.#file;
    if (!file) return null;
    try {
      return await file.read(p);
    } catch (error) {
      if (!this.#file) return null; // closed meanwhile
      throw error;
    }
  }

  /** Stops reading: the FIFO is closed. */
  close(): void {
    this.release();
    if (!this.#file) return;
    try {
      this.#file.close();
    } catch { /* closed */ }
    this.#file = undefined;
    direct--;
  }
}
