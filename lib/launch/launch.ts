// Starting a job runtime: its private channel directory, the kernel's ends
// of the channel, the process (straight from the kernel, or from a
// launcher), and the wait until it is ready (or the reason it never was).
import { readFrames } from "../protocol/frames.ts";
import { endGroup, killGroup, markStarting } from "./process_group.ts";
import {
  channelDirPath,
  type ChannelReader,
  fifoFree,
  type FifoReader,
  grantChannel,
  holdFifo,
  makeChannelDir,
  readFifo,
  StreamReader,
  untilExit,
} from "./channel.ts";
import { dropLauncher, makeSpare, takeLauncher } from "./spare.ts";
import {
  primeRuntime,
  runtimeCommand,
  startScript,
  v8Flags,
} from "./launcher.ts";
import { outputFits, type RuntimeChild, spawnDirect } from "./direct_child.ts";
import { canSpawnSession } from "../os/libc.ts";
import { unwatchDir, watchDir, watchGroup } from "./watcher.ts";
import { isReady, type RuntimeMessage } from "../protocol/messages.ts";
import {
  type BulkSocket,
  grantBulk,
  listenBulk,
  pullingAllowed,
} from "./bulk_socket.ts";
import type { RuntimeSpec } from "../sandbox/runtime_spec.ts";
import type { RunMessage } from "../protocol/messages.ts";

// The word: the kernel reads the runtime's FIFO itself, or through a relay.
const GO = new TextEncoder().encode("go\n");
const RELAY = new TextEncoder().encode("relay\n");

/** A started runtime's process and the kernel's ends of its channel. */
export interface Launched {
  child: RuntimeChild;
  /** The kernel's end of the launcher's stdin (its word), if it had one. */
  stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;
  /** Control messages from the runtime. */
  reader: ChannelReader;
  /** Messages to the runtime. */
  writer: Deno.FsFile;
  /** The socket for big results, when one could be made. */
  bulk: BulkSocket | undefined;
  /** Whether the first message is in the runtime's FIFO already. */
  sent: boolean;
}

// A runtime's process, just started, and the kernel's ends of its FIFOs.
interface Spawned {
  dir: string;
  child: RuntimeChild;
  stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;
  /** The runtime's FIFO read directly, if it is. */
  fifo: FifoReader | undefined;
  reader: ChannelReader;
  held: ReturnType<typeof holdFifo>;
  /** Whether it came from a launcher (so the next one is made ahead). */
  launcher: boolean;
}

let directSpawns = true;

/**
 * Whether runtimes may be started straight from this process where it can
 * (see `launch/direct_child.ts`), or always through a launcher (for tests of
 * the launcher, which is what a process without the `ffi` permission uses).
 *
 * @param on `false`: always through a launcher.
 */
export function allowDirectSpawns(on: boolean): void {
  directSpawns = on;
}

// The runtime's arguments (see `runtime/main.ts`).
function runtimeArgs(
  dir: string,
  spec: RuntimeSpec,
  added: string,
  first: RunMessage | undefined,
): string[] {
  return [
    dir,
    spec.readAll ? "0" : "1",
    spec.writeAll ? "0" : "1",
    added,
    first ? "1" : "0",
    pullingAllowed() ? "1" : "0",
  ];
}

/**
 * Starts a runtime and waits until its control channel is up: two FIFOs in
 * a private directory, opened by both sides and then unlinked, and the
 * runtime's first message, which says it is ready. The runtime is started
 * straight from this process where it can call libc and read the runtime's
 * FIFO itself (see `launch/direct_child.ts`); else it comes from a launcher
 * made ahead (see `launch/spare.ts`): this writes its start script and
 * gives it the word. `first` (the run message of the job it is started for)
 * is put in its FIFO before the runtime opens it when it is small, so the
 * runtime finds it there as it starts.
 *
 * @throws When the runtime cannot be started or exits before it is ready.
 */
export async function launch(
  spec: RuntimeSpec,
  first: RunMessage | undefined,
): Promise<Launched> {
  const spawned = await spawnDirectly(spec, first) ??
    await spawnFromLauncher(spec, first);
  const { dir, child, fifo, reader, held } = spawned;
  const toJob = `${dir}/in`;
  const fromJob = `${dir}/out`;
  const writer = held.writer;
  const ready = readFrames<RuntimeMessage>(reader).next();
  ready.catch(() => {});
  let exited: Deno.CommandStatus | undefined;
  child.status.then((status) => exited = status);
  markStarting(child.pid, true);
  // While the runtime loads: it connects only after opening the FIFOs.
  const bulk = listenBulk(dir, child.pid);
  const { sent } = held;
  const started = () => ({
    child,
    stdin: spawned.stdin,
    reader,
    writer,
    bulk,
    sent,
  });
  try {
    const hello = await untilExit(ready, child);
    if (!isReady(hello)) {
      throw new Error("Job runtime closed its channel before it was ready");
    }
    return started();
  } catch (error) {
    // A runtime given its job early can run it and exit (0: it sent its
    // end) before this side has seen it ready: what it sent is in its FIFO,
    // or on its way through the relay, which ends once it has passed it all
    // on, and run() reads it. Any other early exit, or the time limit, is a
    // failed start: the group is killed (the relay with it), and the FIFO
    // ends, so `ready` settles.
    if (exited?.success !== true || !sent) killGroup(child.pid);
    const status = await child.status;
    fifo?.release(); // what it sent is in its FIFO, then the end
    const came = await ready.catch(() => undefined);
    if (status.success && sent && came && isReady(came)) {
      return started();
    }
    endGroup(child.pid);
    reader.close();
    writer.close();
    await bulk?.close();
    const said = (await new Response(child.stdout).text()).trim();
    if (!said) throw error;
    throw new Error(`${(error as Error).message}: ${said.slice(-2000)}`, {
      cause: error,
    });
  } finally {
    // Now that the runtime's start-up is over, however it went (a quick job
    // may have ended before its ready was read): the next cold start's
    // launcher, and the compiled code of the runtimes after this one.
    if (spawned.launcher) makeSpare();
    primeRuntime(spec.env);
    // The runtime has the FIFO open now (or is gone): what was put there
    // early stays in it without this end.
    held.end.close();
    // The runtime has said it is ready (or is gone): its FIFO ends with it.
    fifo?.release();
    markStarting(child.pid, false);
    // The socket's directory goes once the runtime connected (bulk.close),
    // often before this; without a socket, the directory goes now.
    const names = !bulk
      ? [dir]
      : bulk.unlinked
      ? []
      : [toJob, fromJob, `${dir}/start`];
    for (const name of names) {
      try {
        Deno.removeSync(name, { recursive: true });
      } catch { /* removed with the directory meanwhile */ }
    }
  }
}

// A runtime started straight from this process, when it can be: the
// directory is listed with the watcher before it is made, and the runtime's
// group as soon as it exists.
async function spawnDirectly(
  spec: RuntimeSpec,
  first: RunMessage | undefined,
): Promise<Spawned | undefined> {
  if (!directSpawns || !canSpawnSession() || !fifoFree()) return undefined;
  // The start's synchronous part (FIFOs, opens, the spawn) waits for a
  // macrotask. Run in the microtasks that follow a cell (where job() queued
  // it), it made the Deno kernel fail the cell with "Promise was collected":
  // Deno's REPL holds the cell's promise weakly until it reads it, and a
  // collection in that window loses it (denoland/deno#20528; reproduced by
  // tests/kernel_ext/kill_wait_test.ts, which starts two jobs in a cell).
  await new Promise((resolve) => setTimeout(resolve, 0));
  const dir = channelDirPath();
  if (!outputFits(dir)) return undefined;
  watchDir(dir);
  const toJob = `${dir}/in`;
  const fromJob = `${dir}/out`;
  let fifo: FifoReader | undefined;
  let held: ReturnType<typeof holdFifo> | undefined;
  try {
    await makeChannelDir(dir);
    // Taken by others meanwhile: through a launcher after all.
    fifo = readFifo(fromJob);
    if (!fifo) {
      removeDir(dir);
      return undefined;
    }
    held = holdFifo(toJob, first);
    const granted = grantBulk(grantChannel(spec, toJob, fromJob), spec, dir);
    const run = runtimeCommand({
      flags: [...granted.flags, v8Flags(spec.memory)],
      args: runtimeArgs(dir, spec, granted.added, first),
      env: spec.env,
    });
    // The group is listed the moment it exists: the watcher's line is in its
    // pipe before anything waits.
    const child = await spawnDirect({
      ...run,
      cwd: run.cwd ?? "/",
      dir,
      onSpawn: (pid) => watchGroup(pid, dir),
    });
    return {
      dir,
      child,
      stdin: undefined,
      fifo,
      reader: fifo,
      held,
      launcher: false,
    };
  } catch (error) {
    fifo?.close();
    held?.end.close();
    held?.writer.close();
    removeDir(dir);
    throw error;
  } finally {
    unwatchDir(dir);
  }
}

function removeDir(dir: string): void {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* not made */ }
}

// A runtime from a launcher made ahead: its start script, then the word.
async function spawnFromLauncher(
  spec: RuntimeSpec,
  first: RunMessage | undefined,
): Promise<Spawned> {
  const launcher = await takeLauncher();
  const { dir, child } = launcher;
  const toJob = `${dir}/in`;
  const fromJob = `${dir}/out`;
  const granted = grantBulk(grantChannel(spec, toJob, fromJob), spec, dir);
  // What the launcher is to run; then the word, as early as can be; then
  // the kernel's end of `in`, with the job's first message in it if small:
  // the runtime opens it some 15 ms from now, and waits for that message
  // first (a big one comes with run()).
  let held: ReturnType<typeof holdFifo>;
  let fifo: FifoReader | undefined;
  try {
    fifo = readFifo(fromJob);
    Deno.writeTextFileSync(
      `${dir}/start`,
      startScript({
        flags: [...granted.flags, v8Flags(spec.memory)],
        args: runtimeArgs(dir, spec, granted.added, first),
        env: spec.env,
      }),
    );
    child.ref();
    // If it is gone, its status says so.
    launcher.stdin.write(fifo ? GO : RELAY).catch(() => {});
    held = holdFifo(toJob, first);
  } catch (error) {
    fifo?.close();
    dropLauncher(launcher);
    throw error;
  }
  // Control messages come from the FIFO, or through the launcher's relay.
  let reader: ChannelReader;
  if (fifo) {
    reader = fifo;
    child.stderr.cancel().catch(() => {});
  } else reader = new StreamReader(child.stderr);
  return {
    dir,
    child,
    stdin: launcher.stdin,
    fifo,
    reader,
    held,
    launcher: true,
  };
}
