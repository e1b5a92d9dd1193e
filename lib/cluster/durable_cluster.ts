/**
 * The durable local cluster detached jobs run on when no cluster is
 * configured: a `nats-server -js` on 127.0.0.1 and one runner, NOT tied to
 * the kernel (unlike `cluster: "local"`): started in process groups of their
 * own, output to a log file, their store and a file of their port and pids
 * under bgjobs' cache (`<cache>/detached/`). A later kernel reuses them
 * while they live, and starts them again (same store, same port when free)
 * when they do not. {@linkcode stopDurableCluster} stops them.
 *
 * @module
 */
import { cacheDir } from "../deps/npm_bundle.ts";
import type { ClusterOptions } from "./cluster_options.ts";
import {
  findNatsServer,
  freePort,
  NATS_APT_LINE,
  natsArgs,
  reachable,
  runnerArgs,
} from "./local_cluster.ts";

/** The durable local cluster's name (subjects, stream, buckets). */
export const DURABLE_CLUSTER = "detached";

/** What the file `<cache>/detached/cluster.json` records. */
export interface DurableClusterFile {
  /** The server's port on 127.0.0.1. */
  port: number;
  /** The server's pid. */
  server: number;
  /** The runner's pid. */
  runner: number;
}

/**
 * The durable cluster's folder: `<bgjobs cache>/detached`.
 *
 * @returns The folder.
 * @throws {Error} When there is no cache folder (no HOME nor BGJOBS_CACHE_DIR).
 */
export function durableDir(): string {
  const cache = cacheDir();
  if (!cache) {
    throw new Error(
      "Cannot keep detached jobs: bgjobs has no cache folder; set HOME or BGJOBS_CACHE_DIR",
    );
  }
  return `${cache}/detached`;
}

/**
 * Whether the durable local cluster ever ran here (its store is there).
 *
 * @returns Whether it did.
 */
export function durableClusterUsed(): boolean {
  try {
    return Deno.statSync(`${durableDir()}/store/jetstream`).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Whether the durable local cluster runs now (its server and its runner),
 * so reaching it starts no process.
 *
 * @returns Whether it runs.
 */
export function durableClusterRunning(): boolean {
  let known: DurableClusterFile | undefined;
  try {
    known = readFile(durableDir());
  } catch {
    return false; // no cache folder
  }
  return known !== undefined && alive(known.server, "nats-server") &&
    alive(known.runner, `nats://127.0.0.1:${known.port}`);
}

function readFile(dir: string): DurableClusterFile | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(`${dir}/cluster.json`));
  } catch {
    return undefined;
  }
}

function alive(pid: number, what: string): boolean {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes(what);
  } catch {
    return false;
  }
}

function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

// A process of its own: its own process group and session, no stdin, its
// output appended to `log`; this process does not wait for it.
function spawnDetached(program: string, args: string[], log: string): number {
  const child = new Deno.Command("/bin/sh", {
    args: [
      "-c",
      'exec "$@" >>"$BGJOBS_LOG" 2>&1 </dev/null',
      "bgjobs",
      program,
      ...args,
    ],
    env: { BGJOBS_LOG: log },
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  child.unref();
  child.status.catch(() => {});
  return child.pid;
}

/**
 * The durable local cluster, started when it does not run.
 *
 * @returns How to reach it.
 * @throws {Error} When `nats-server` is missing (with the line that
 * installs it) or does not start.
 */
export async function ensureDurableCluster(): Promise<ClusterOptions> {
  const dir = durableDir();
  Deno.mkdirSync(`${dir}/store`, { recursive: true, mode: 0o700 });
  Deno.chmodSync(dir, 0o700);
  // One kernel at a time starts it.
  using lock = await Deno.open(`${dir}/lock`, { create: true, write: true });
  await lock.lock(true);
  const known = readFile(dir);
  let { port, server, runner } = known ?? { port: 0, server: 0, runner: 0 };
  const log = `${dir}/cluster.log`;
  const token = secret(dir);
  const serverUp = known !== undefined && alive(server, "nats-server") &&
    await reachable(port, 1000);
  if (!serverUp) {
    const program = findNatsServer();
    if (!program) {
      throw new Error(
        `Cannot start the durable local cluster for detached jobs: nats-server is not installed; install it with: ${NATS_APT_LINE}`,
      );
    }
    if (!port || !portFree(port)) port = freePort();
    server = spawnDetached(program, [
      "-c",
      `${dir}/nats.conf`,
      ...natsArgs(port, `${dir}/store`),
    ], log);
    if (!await reachable(port, 10_000)) {
      throw new Error(
        `Cannot start the durable local cluster: ${program} did not listen on 127.0.0.1:${port} within 10 s; see ${log}`,
      );
    }
  }
  const url = `nats://127.0.0.1:${port}`;
  const runnerUp = alive(runner, url);
  if (!runnerUp) {
    if (alive(runner, "runner")) Deno.kill(runner, "SIGTERM"); // an old port
    runner = spawnDetached(
      Deno.execPath(),
      runnerArgs(url, [
        "--cluster",
        DURABLE_CLUSTER,
        "--name",
        "detached",
        "--token-file",
        `${dir}/token`,
      ]),
      log,
    );
  }
  if (!serverUp || !runnerUp) {
    const file: DurableClusterFile = { port, server, runner };
    Deno.writeTextFileSync(`${dir}/cluster.json`, JSON.stringify(file));
  }
  return { servers: url, name: DURABLE_CLUSTER, token };
}

// Whoever may publish on the server may run code as this user: it asks for
// a token, kept in files only this user reads (not in the process list).
function secret(dir: string): string {
  try {
    return Deno.readTextFileSync(`${dir}/token`).trim();
  } catch {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    const token = bytes.toHex();
    const write = (file: string, text: string) =>
      Deno.writeTextFileSync(`${dir}/${file}`, text, { mode: 0o600 });
    write("token", token);
    write("nats.conf", `authorization { token: "${token}" }\n`);
    return token;
  }
}

/**
 * Stops the durable local cluster (runner, then server), if it runs. Its
 * store stays, with the detached jobs' records and events.
 *
 * @returns Whether it was running.
 */
export async function stopDurableCluster(): Promise<boolean> {
  let dir: string;
  try {
    dir = durableDir();
  } catch {
    return false;
  }
  const known = readFile(dir);
  if (!known) return false;
  let was = false;
  for (
    const [pid, what] of [[known.runner, "runner"], [
      known.server,
      "nats-server",
    ]] as const
  ) {
    if (!alive(pid, what)) continue;
    was = true;
    Deno.kill(pid, "SIGTERM");
    for (let i = 0; i < 100 && alive(pid, what); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    if (alive(pid, what)) Deno.kill(pid, "SIGKILL");
  }
  await Deno.remove(`${dir}/cluster.json`).catch(() => {});
  return was;
}
