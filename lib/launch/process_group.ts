// Processes of a job runtime as the kernel sees them: killing a process
// group, finding what is left of it in /proc, and reading how it ended.
import { unwatchGroup } from "./watcher.ts";
import { signalName } from "../os/libc.ts";

/** SIGKILLs a process group, if any of it is left. */
export function killGroup(pid: number): void {
  try {
    Deno.kill(-pid, "SIGKILL");
  } catch { /* already gone */ }
}

/**
 * SIGKILLs what is left of a runtime's process group once its leader has
 * ended (or is being dropped), and takes the group off the watcher's list:
 * from here on its id may be another's.
 */
export function endGroup(pid: number): void {
  killGroup(pid);
  unwatchGroup(pid);
}

/**
 * The processes below `pid`, from /proc (none where there is no /proc).
 * `mainOnly`: of `pid` itself, read only its main thread's children.
 */
function descendants(pid: number, mainOnly: boolean): number[] {
  const out: number[] = [];
  const visit = (parent: number, tasks: string[] | undefined) => {
    try {
      tasks ??= [...Deno.readDirSync(`/proc/${parent}/task`)].map((t) =>
        t.name
      );
    } catch {
      return;
    }
    // A child belongs to the thread that started it: read every thread's list.
    for (const task of tasks) {
      let children = "";
      try {
        children = Deno.readTextFileSync(
          `/proc/${parent}/task/${task}/children`,
        );
      } catch { /* the thread ended */ }
      for (const child of children.split(" ").filter(Boolean).map(Number)) {
        out.push(child);
        if (out.length < 10_000) visit(child, undefined);
      }
    }
  };
  visit(pid, mainOnly ? [String(pid)] : undefined);
  return out;
}

/**
 * SIGKILLs a runtime's process group and every process below it, including
 * those started `detached` (in a group of their own). The group is stopped
 * first, so nothing new starts while the tree is read.
 *
 * With `threads`, the number of threads the runtime had as its job began,
 * which it sends with its end when the job was short (`JOB_THREADS_MS` in
 * `protocol/messages.ts`): if it has no more now, only its main thread's
 * children are read. Listing every thread costs the kernel ~2.5 ms
 * a runtime here (Linux drops those /proc entries again as it reaps the
 * runtime), a tenth of a job's overhead. A thread that came and went left
 * its children to the main thread; one that came and stayed raised the
 * count, unless another went meanwhile: only a Worker's goes that soon, so
 * what is missed is a `detached` subprocess of a second Worker of a job that
 * ended a first (its group is killed all the same).
 *
 * @returns The processes that were below `pid`.
 */
export function killTree(pid: number, threads?: number): number[] {
  try {
    Deno.kill(-pid, "SIGSTOP");
  } catch { /* already gone */ }
  const now = threads === undefined ? undefined : stat(pid)?.threads;
  const members = descendants(pid, now !== undefined && now <= threads!);
  killGroup(pid);
  for (const member of members) {
    try {
      Deno.kill(member, "SIGKILL");
    } catch { /* already gone */ }
  }
  return members;
}

// A process's state, group and thread count from /proc (`undefined`: gone,
// or no /proc).
function stat(
  pid: number,
): { ended: boolean; group: number; threads: number } | undefined {
  try {
    const line = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
    const [state, , pgrp] = fields;
    return {
      ended: state === "Z" || state === "X",
      group: Number(pgrp),
      threads: Number(fields[17]),
    };
  } catch {
    return undefined;
  }
}

/** Whether a process still runs (a zombie has released its CPU and memory). */
export function running(pid: number): boolean {
  const now = stat(pid);
  return now !== undefined && !now.ended;
}

/**
 * Whether a process is out of this process's group: it leads a group of its
 * own, or has ended (or there is no /proc to say).
 */
export function leftGroup(pid: number): boolean {
  const now = stat(pid);
  return now === undefined || now.ended || now.group === pid;
}

/** How a process ended: its exit code, and the signal that killed it. */
export function exitOf(
  status: Deno.CommandStatus,
): { code: number; signal: string | null } {
  if (status.signal) return { code: status.code, signal: status.signal };
  // A shell reports a program killed by signal N as exit code 128 + N.
  const signal = status.code > 128 ? signalName(status.code - 128) : null;
  return { code: status.code, signal };
}

// Runtimes being started: from their spawn until their channel is open,
// which is about when they are done loading and go idle.
const starting = new Set<number>();

/** Marks a runtime as starting (`true`) or started (`false`). */
export function markStarting(pid: number, on: boolean): void {
  if (on) starting.add(pid);
  else starting.delete(pid);
}

/**
 * Stops (SIGSTOP) every runtime being started, for as long as a big result
 * comes in: a runtime loading takes a core for tens of ms, and receiving
 * takes both (the copy on the event loop, faulting the pages in on another).
 * Only the runtime itself stops, not the kernel's watcher, which still kills
 * it if the kernel dies meanwhile.
 *
 * @returns Resumes (SIGCONT) them; call it once the result is in.
 */
export function pauseStarting(): () => void {
  const paused = [...starting].filter((pid) => {
    try {
      Deno.kill(pid, "SIGSTOP");
      return true;
    } catch {
      return false; // already gone
    }
  });
  return () => {
    for (const pid of paused) {
      try {
        Deno.kill(pid, "SIGCONT");
      } catch { /* gone meanwhile */ }
    }
  };
}
