// The launcher made ahead of need: a channel directory (two FIFOs) and a
// launcher shell waiting in it (see `launch/launcher.ts`). No Deno runs in
// it until a runtime is asked for: a runtime started cold then costs what
// starting `deno run` costs.
import { makeChannelDir } from "./channel.ts";
import { killGroup } from "./process_group.ts";
import { spawnLauncher } from "./launcher.ts";

/** A launcher, waiting for the kernel's word in its channel directory. */
export interface Launcher {
  /** The channel directory: `in`, `out`, and the start script to write. */
  dir: string;
  child: Deno.ChildProcess;
  /** The kernel's end of the launcher's stdin: its word, then the watcher's. */
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  /** Whether the launcher has exited (killed, or the kernel dropped it). */
  gone: boolean;
}

async function makeLauncher(): Promise<Launcher> {
  const dir = await makeChannelDir();
  let child: Deno.ChildProcess;
  try {
    child = spawnLauncher(`${dir}/out`, `${dir}/start`);
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  const launcher: Launcher = {
    dir,
    child,
    stdin: child.stdin.getWriter(),
    gone: false,
  };
  child.status.then(() => launcher.gone = true);
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
  // The launcher first: right after its spawn, before `setsid` has made its
  // group, there is no group to kill yet, and killed then it starts nothing.
  // (Not reaped yet, so the pid is still its own.) Then its group.
  if (!launcher.gone) {
    try {
      Deno.kill(launcher.child.pid, "SIGKILL");
    } catch { /* exited meanwhile */ }
  }
  killGroup(launcher.child.pid);
  try {
    Deno.removeSync(launcher.dir, { recursive: true });
  } catch { /* gone already */ }
}

/** Kills the spare launcher and removes its directory (at shutdown). */
export function dropSpare(): void {
  if (made) dropLauncher(made);
  else spare?.then(dropLauncher, () => {}); // dropped once made
  spare = made = undefined;
}
