/**
 * The process half of the real-kernel harness: runs
 * `tests/_kernel_driver.py` with Debian's Python and speaks its JSON-lines
 * protocol (commands in on stdin, one event per stdout line). The driver
 * starts the kernel, and shuts it down when told to or when its stdin closes.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { PYTHON } from "../tools/_prereq.ts";

const DRIVER = fileURLToPath(new URL("./_kernel_driver.py", import.meta.url));

/** One line the driver printed: `ready`, `sent`, `iopub`, `reply`, … */
// deno-lint-ignore no-explicit-any
export type DriverEvent = { type: string; t: number } & Record<string, any>;

/** Where and how the driver starts the kernel. */
export interface DriverOptions {
  /** Kernel name, found through `jupyterPath`. */
  kernel: string;
  /** A private Jupyter data path holding `kernels/<kernel>`; deleted at exit. */
  jupyterPath: string;
  /** The kernel's working directory. */
  cwd: string;
  /** ms the driver waits for the kernel to answer `kernel_info`. */
  startTimeout: number;
  /** More environment for the driver and the kernel (e.g. `DENO_V8_FLAGS`). */
  env?: Record<string, string>;
}

/** A running driver process. */
export class KernelProcess {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #stderr = "";
  #closed: Promise<void> | undefined;
  /** Resolves with the driver's exit code once its output is fully read. */
  readonly exited: Promise<number>;

  constructor(options: DriverOptions, onEvent: (event: DriverEvent) => void) {
    const root = options.jupyterPath;
    this.#child = new Deno.Command(PYTHON, {
      args: [
        DRIVER,
        `--kernel=${options.kernel}`,
        `--cwd=${options.cwd}`,
        `--remove-on-exit=${root}`,
        `--start-timeout=${options.startTimeout / 1000}`,
      ],
      env: {
        ...options.env,
        JUPYTER_PATH: root,
        JUPYTER_DATA_DIR: `${root}/data`,
        JUPYTER_RUNTIME_DIR: `${root}/runtime`,
        PYTHONUNBUFFERED: "1",
      },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.exited = Promise.all([
      readLines(this.#child.stdout, (line) => {
        if (line.startsWith("{")) onEvent(JSON.parse(line));
      }),
      readLines(this.#child.stderr, (line) => {
        this.#stderr = (this.#stderr + line + "\n").slice(-65536);
      }),
    ]).then(() => this.#child.status).then((status) => status.code);
  }

  /** Kernel and driver stderr so far (last 64 KiB). */
  get stderr(): string {
    return this.#stderr;
  }

  /** Sends one command (`{ op: "execute", code }`); ignored once closed. */
  async send(command: Record<string, unknown>): Promise<void> {
    const line = new TextEncoder().encode(JSON.stringify(command) + "\n");
    await this.#writer.write(line).catch(() => {});
  }

  /** Shuts the kernel down and waits for the driver (killed after 15 s). */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.send({ op: "shutdown" });
      await this.#writer.close().catch(() => {});
      const killer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 15_000);
      await this.exited;
      clearTimeout(killer);
    })();
    return this.#closed;
  }
}

async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (buffer + chunk).split("\n");
    buffer = lines.pop()!;
    for (const line of lines) onLine(line);
  }
  if (buffer) onLine(buffer);
}
