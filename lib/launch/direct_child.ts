// A runtime started straight from the kernel, where it may call libc: one
// `posix_spawn` makes the runtime lead a session (and so a process group) of
// its own and gives it one socket for stdout and stderr, so the job's output
// keeps its order. That is what a launcher's `setsid` and `sh` do (see
// `launch/launcher.ts`), without their two execs: ~4 ms of CPU a job here,
// a fifth of what a job costs beyond a bare `deno run`.
//
// Deno cannot take a file descriptor made outside it, so the output socket
// is a connection to a socket the kernel listens on (in the runtime's channel
// directory), which Deno reads on its event loop as it reads a pipe. The
// runtime is reaped with `waitpid` when a SIGCHLD comes, and on a slow poll
// (which also keeps a script alive while it waits for a runtime, as Deno
// does for its own children).
import { reapChild, spawnSession } from "../os/libc.ts";

/** What the kernel needs of a runtime's process, however it was started. */
export interface RuntimeChild {
  /** Its pid, which is also its process group's id. */
  readonly pid: number;
  /** How it ended, once it has. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Its stdout and stderr, in the order written. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** Keeps this process alive while the child runs. */
  ref(): void;
  /** Lets this process exit while the child runs. */
  unref(): void;
}

/** What {@linkcode spawnDirect} starts. */
export interface DirectSpawn {
  /** The program and its arguments. */
  command: readonly string[];
  /** Its whole environment. */
  env: Readonly<Record<string, string>>;
  /** Its working directory, if it still exists; else `/`. */
  cwd: string;
  /** A directory for the output socket: the runtime's channel directory. */
  dir: string;
  /**
   * Called with the child's pid as soon as it exists, before any wait (a
   * kernel killed from here on leaves the child to whoever this tells).
   */
  onSpawn?: (pid: number) => void;
}

// The longest path a Unix socket address holds, with its NUL.
const SOCKET_PATH_MAX = 108;

/**
 * Whether the output socket of a runtime started directly fits in `dir`: a
 * deep `TMPDIR` makes socket paths longer than Unix allows.
 *
 * @param dir The runtime's channel directory.
 * @returns `true` when it fits.
 */
export function outputFits(dir: string): boolean {
  return new TextEncoder().encode(outputPath(dir)).byteLength <
    SOCKET_PATH_MAX;
}

const outputPath = (dir: string) => `${dir}/output`;

const POLL_MS = 50;
const waiting = new Map<
  number,
  { held: boolean; settle(status: Deno.CommandStatus): void }
>();
let poll: ReturnType<typeof setInterval> | undefined;
let listening = false;

function reapAll(): void {
  for (const [pid, child] of waiting) {
    let status: Deno.CommandStatus | undefined;
    try {
      status = reapChild(pid);
    } catch {
      // Reaped by someone else (a `waitpid(-1)` in a native library): how
      // it ended is lost.
      status = { success: false, code: 1, signal: null };
    }
    if (status) {
      waiting.delete(pid);
      child.settle(status);
    }
  }
  keepPolling();
}

// The poll holds the event loop open while a child someone waits for runs
// (a SIGCHLD listener does not).
function keepPolling(): void {
  if (waiting.size === 0) {
    if (poll !== undefined) clearInterval(poll);
    poll = undefined;
    return;
  }
  const timer = poll ??= setInterval(reapAll, POLL_MS);
  const held = [...waiting.values()].some((child) => child.held);
  if (held) Deno.refTimer(timer);
  else Deno.unrefTimer(timer);
}

/** A runtime started by {@linkcode spawnDirect}. */
class DirectChild implements RuntimeChild {
  readonly status: Promise<Deno.CommandStatus>;
  readonly stdout: ReadableStream<Uint8Array>;
  held = true;
  #settle!: (status: Deno.CommandStatus) => void;

  constructor(readonly pid: number, readonly conn: Deno.UnixConn) {
    this.status = new Promise((resolve) => this.#settle = resolve);
    this.stdout = conn.readable;
  }

  settle(status: Deno.CommandStatus): void {
    this.#settle(status);
  }

  ref(): void {
    this.held = true;
    this.conn.ref();
    keepPolling();
  }

  unref(): void {
    this.held = false;
    this.conn.unref();
    keepPolling();
  }
}

/**
 * Starts `spec.command` leading a session of its own, its output on a
 * socket in `spec.dir` (which must exist, and which this leaves as it found
 * it).
 *
 * @param spec What to start.
 * @returns The child, once its output is connected.
 * @throws When it cannot be started.
 */
export async function spawnDirect(spec: DirectSpawn): Promise<RuntimeChild> {
  const path = outputPath(spec.dir);
  const listener = Deno.listen({ transport: "unix", path });
  let pid: number;
  try {
    const [program, ...args] = spec.command;
    const start = (cwd: string) =>
      spawnSession({ program, args, env: spec.env, cwd, output: path });
    try {
      pid = start(spec.cwd);
    } catch (error) {
      // The notebook's directory went meanwhile: the runtime gets `/`, as a
      // kernel without a directory gives it. The failed try's connection is
      // first in the queue.
      if (spec.cwd === "/") throw error;
      (await listener.accept()).close();
      pid = start("/");
    }
    spec.onSpawn?.(pid);
    if (!listening) Deno.addSignalListener("SIGCHLD", reapAll);
    listening = true;
    let conn: Deno.UnixConn;
    try {
      // The connection is made already: waiting in the listener's queue.
      conn = await listener.accept() as Deno.UnixConn;
    } catch (error) {
      try {
        Deno.kill(-pid, "SIGKILL");
      } catch { /* gone */ }
      waiting.set(pid, { held: false, settle: () => {} }); // to be reaped
      keepPolling();
      throw error;
    }
    const child = new DirectChild(pid, conn);
    waiting.set(pid, child);
    keepPolling();
    return child;
  } finally {
    listener.close();
    try {
      Deno.removeSync(path);
    } catch { /* gone with its directory */ }
  }
}
