// The launcher made ahead of need: a channel directory (two FIFOs) and a
// launcher shell waiting in it (see `launch/launcher.ts`). No Deno runs in
// it until a runtime is asked for: a runtime started cold then costs what
// starting `deno run` costs.
import { channelDirPath, makeChannelDir } from "./channel.ts";
import { endGroup, leftGroup } from "./process_group.ts";
import { spawnLauncher } from "./launcher.ts";
import { watchGroup } from "./watcher.ts";

/** A launcher, waiting for the kernel's word in its channel directory. */
export interface Launcher {
  /** The channel directory: `in`, `out`, and the start script to write. */
  dir: string;
  child: Deno.ChildProcess;
  /** The kernel's end of the launcher's stdin: its word. */
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  /** Whether the launcher has exited (killed, or the kernel dropped it). */
  gone: boolean;
}

const MADE = new TextEncoder().encode("made\n");

// The launcher before its directory (see `launch/launcher.ts`): a process
// ended at any moment leaves nothing behind.
async function makeLauncher(): Promise<Launcher> {
  const dir = channelDirPath();
  const child = spawnLauncher(`${dir}/out`, `${dir}/start`);
  const launcher: Launcher = {
    dir,
    child,
    stdin: child.stdin.getWriter(),
    gone: false,
  };
  child.status.then(() => launcher.gone = true);
  try {
    // Until `setsid` has made the launcher's group it is in ours: a kill of
    // our group (a supervisor's, Ctrl-C) would end it with no chance to
    // remove a directory made meanwhile.
    for (let i = 0; i < 1000 && !leftGroup(child.pid); i++) {
      await new Promise((r) => setTimeout(r, 0));
    }
    // Dropped from the list once its group is killed (`endGroup`).
    if (!launcher.gone) watchGroup(child.pid, dir);
    await makeChannelDir(dir);
    await launcher.stdin.write(MADE);
  } catch (error) {
    dropLauncher(launcher);
    throw error;
  }
  return launcher;
}

let spare: Promise<Launcher> | undefined;
let made: Launcher | undefined;

/**
 * A launcher: the spare if there is one alive, else a new one.
 *
 * @throws When no channel directory or launcher can be made.
 */
export async function takeLauncher(): Promise<Launcher> {
  const next = spare;
  spare = made = undefined;
  const launcher = await next?.catch(() => undefined);
  if (launcher && !launcher.gone) return launcher;
  if (launcher) dropLauncher(launcher);
  return await makeLauncher();
}

/**
 * Makes the next spare launcher, unless there is one. Called once a runtime
 * has started (its start-up would otherwise share the cores with the
 * `mkfifo` and the shell). The spare waits unreferenced: it does not keep a
 * script alive, and it goes when this process exits.
 */
export function makeSpare(): void {
  if (spare) return;
  const next = makeLauncher();
  next.then((launcher) => {
    launcher.child.unref();
    if (spare === next) made = launcher;
  }, () => {});
  if (!listening) globalThis.addEventListener("unload", dropSpare);
  listening = true;
  spare = next;
}

let listening = false;

/** Kills a launcher (and what it started) and removes its directory. */
export function dropLauncher(launcher: Launcher): void {
  // The directory first: were this process to end right here, the launcher
  // would end on its own. Then the launcher: right after its spawn, before
  // `setsid` has made its group, there is no group to kill yet, and killed
  // then it starts nothing. (Not reaped yet, so the pid is still its own.)
  // Then its group.
  try {
    Deno.removeSync(launcher.dir, { recursive: true });
  } catch { /* gone already */ }
  if (!launcher.gone) {
    try {
      Deno.kill(launcher.child.pid, "SIGKILL");
    } catch { /* exited meanwhile */ }
  }
  endGroup(launcher.child.pid);
}

/** Kills the spare launcher and removes its directory (at shutdown). */
export function dropSpare(): void {
  if (made) dropLauncher(made);
  else spare?.then(dropLauncher, () => {}); // dropped once made
  spare = made = undefined;
}
