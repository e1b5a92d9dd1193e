/**
 * `jobs.configure({ cluster: "local" })`: a cluster on this machine, to try
 * the cluster with one line. A `nats-server -js` on 127.0.0.1 and a free
 * port, its data under bgjobs' cache directory, and one runner, both of
 * which exit when this process does (their standard input is ours: when it
 * ends, even on SIGKILL, they go).
 *
 * @module
 */
import { cacheDir } from "../deps/npm_bundle.ts";
import type { ClusterOptions } from "./cluster_options.ts";

/** The line that installs the server. */
export const NATS_APT_LINE = "apt-get install -y nats-server";

/**
 * Where `nats-server` is.
 *
 * @returns Its path, or `undefined`.
 */
export function findNatsServer(): string | undefined {
  const dirs = [
    ...(Deno.env.get("PATH") ?? "").split(":"),
    "/usr/sbin",
    "/usr/bin",
  ];
  for (const dir of dirs) {
    try {
      const path = `${dir}/nats-server`;
      if (Deno.statSync(path).isFile) return path;
    } catch { /* not here */ }
  }
  return undefined;
}

/**
 * A TCP port free on 127.0.0.1 now.
 *
 * @returns The port.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

// Runs a program that goes when our end of its stdin closes: a shell keeps
// the pipe, and kills the program once it reads end-of-file.
function spawnTied(program: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command("/bin/sh", {
    args: [
      "-c",
      '"$@" </dev/null & child=$!; while read -r _; do :; done; kill -KILL $child 2>/dev/null',
      "bgjobs-local",
      program,
      ...args,
    ],
    stdin: "piped",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
}

/**
 * Waits until something listens on 127.0.0.1:`port`.
 *
 * @param port The port.
 * @param ms How long at most.
 * @returns Whether it did in time.
 */
export async function reachable(port: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return false;
}

/**
 * The `nats-server` arguments of a local cluster: JetStream, on 127.0.0.1.
 *
 * @param port Its port.
 * @param store Its store's folder.
 * @returns The arguments.
 */
export function natsArgs(port: number, store: string): string[] {
  return ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", store];
}

/** The runner's command (`runner.ts` of this bgjobs). */
export const RUNNER_URL: string =
  new URL("../../runner.ts", import.meta.url).href;

/**
 * The `deno` arguments that start a runner.
 *
 * @param server The cluster's `nats://` URL.
 * @param flags More runner flags, e.g. `["--name", "r1"]`.
 * @returns The arguments.
 */
export function runnerArgs(server: string, flags: string[] = []): string[] {
  return ["run", "-A", "--no-config", RUNNER_URL, "--server", server, ...flags];
}

/** A cluster on this machine: a NATS server and a runner. */
export class LocalCluster implements AsyncDisposable {
  /** How to reach it. */
  readonly options: ClusterOptions;
  readonly #children: Deno.ChildProcess[];
  readonly #dir: string;

  private constructor(
    options: ClusterOptions,
    children: Deno.ChildProcess[],
    dir: string,
  ) {
    this.options = options;
    this.#children = children;
    this.#dir = dir;
  }

  /**
   * Starts the server and a runner.
   *
   * @returns The cluster, its server up (the runner may still be starting).
   * @throws {Error} When `nats-server` is missing (with the line that
   * installs it) or does not start.
   */
  static async start(): Promise<LocalCluster> {
    const server = findNatsServer();
    if (!server) {
      throw new Error(
        `Cannot start a local cluster: nats-server is not installed; install it with: ${NATS_APT_LINE}`,
      );
    }
    const port = freePort();
    const dir = `${cacheDir() ?? Deno.makeTempDirSync()}/nats/${port}`;
    Deno.mkdirSync(dir, { recursive: true });
    // The server's log goes to a file: its banner is no news in a notebook.
    const log = `${dir}/server.log`;
    const children = [
      spawnTied(server, [...natsArgs(port, dir), "-l", log]),
    ];
    const cluster = new LocalCluster(
      { servers: `nats://127.0.0.1:${port}`, name: "local" },
      children,
      dir,
    );
    if (!await reachable(port, 10_000)) {
      const said = await Deno.readTextFile(log).catch(() => "");
      await cluster.close();
      throw new Error(
        `Cannot start a local cluster: ${server} did not listen on 127.0.0.1:${port} within 10 s${
          said ? `; it said: ${said.trim().slice(-1000)}` : ""
        }`,
      );
    }
    children.push(
      spawnTied(
        Deno.execPath(),
        runnerArgs(`nats://127.0.0.1:${port}`, [
          "--cluster",
          "local",
          "--name",
          "local",
        ]),
      ),
    );
    for (const child of children) child.unref();
    return cluster;
  }

  /** Stops the runner and the server, and removes the server's data. */
  async close(): Promise<void> {
    for (const child of this.#children.toReversed()) {
      await child.stdin.close().catch(() => {});
      // Unref'd while it ran; waited for now, or a script (or a test) whose
      // last wait this is would end with the promise unresolved.
      child.ref();
      await child.status;
    }
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }

  /** Same as {@linkcode LocalCluster.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
