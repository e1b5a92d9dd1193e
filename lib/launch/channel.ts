// The control channel between the kernel and a job runtime: two FIFOs the
// runtime is allowed to open, waiting for the runtime, and reading what it
// sends (through its launcher's relay, see `launch/launcher.ts`).
import type { RuntimeSpec } from "../sandbox/runtime_spec.ts";
import { extendGrant } from "../sandbox/permissions.ts";

/**
 * Makes a private directory holding two fresh FIFOs, `in` and `out`.
 *
 * @throws When the temporary directory is not writable, or `mkfifo` fails.
 */
export async function makeChannelDir(): Promise<string> {
  let dir: string;
  try {
    dir = await Deno.makeTempDir({ prefix: "bgjobs-" });
  } catch (error) {
    throw new Error(
      `Cannot make the job channel in the temporary directory: ${
        (error as Error).message
      }; point TMPDIR at a writable directory`,
      { cause: error },
    );
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
  return dir;
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
  child: Deno.ChildProcess,
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

/**
 * Reads a byte stream (a child process's pipe, which Deno reads on its event
 * loop) as a `read(p)` reader, keeping what a chunk holds beyond one read.
 */
export class StreamReader {
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
