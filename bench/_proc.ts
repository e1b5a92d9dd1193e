/**
 * What the kernel says about processes and threads, from `/proc`: who is
 * alive, who burns CPU, how much memory each holds.
 *
 * @module
 */
import { allProcesses, isAlive, procInfo } from "../tests/_procs.ts";

export { allProcesses, isAlive, procInfo };

/** Clock ticks per second of `/proc` CPU times (Linux: always 100). */
export const TICKS_PER_SECOND = 100;

/** Resident memory of a process in MB (`VmRSS`), 0 when it is gone. */
export function rssMb(pid: number | "self"): number {
  return statusKb(pid, "VmRSS") / 1024;
}

/** Proportional memory of a process in MB (`Pss`: shared pages split). */
export function pssMb(pid: number): number {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
    const kb = /^Pss:\s+(\d+) kB/m.exec(text)?.[1];
    return kb ? Number(kb) / 1024 : 0;
  } catch {
    return 0;
  }
}

function statusKb(pid: number | "self", field: string): number {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1];
    return kb ? Number(kb) : 0;
  } catch {
    return 0;
  }
}

/** The program name of a process (`comm`), or `""` when it is gone. */
export function commOf(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
  } catch {
    return "";
  }
}

/** Live (not zombie) processes whose group is `pgid`. */
export function groupOf(pgid: number): number[] {
  return allProcesses().filter((p) => p.pgid === pgid).map((p) => p.pid);
}

/** Live children of `pid`. */
export function childrenOf(pid: number): number[] {
  return allProcesses().filter((p) => p.ppid === pid).map((p) => p.pid);
}

/** A thread of this process. */
export interface ThreadInfo {
  tid: number;
  /** Its name: Deno calls worker threads `worker-N`. */
  name: string;
  /** CPU ticks used so far. */
  cpu: number;
  /** `R` running, `S` sleeping … */
  state: string;
}

/** The threads of this process. */
export function ownThreads(): ThreadInfo[] {
  const out: ThreadInfo[] = [];
  for (const entry of Deno.readDirSync("/proc/self/task")) {
    const tid = Number(entry.name);
    try {
      const stat = Deno.readTextFileSync(`/proc/self/task/${tid}/stat`);
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.push({
        tid,
        name,
        state: fields[0],
        cpu: Number(fields[11]) + Number(fields[12]),
      });
    } catch { /* it ended while we looked */ }
  }
  return out;
}

/** CPU ticks of a thread of this process, or `undefined` when it is gone. */
export function threadCpu(tid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/self/task/${tid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z" || fields[0] === "X") return undefined;
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** CPU ticks of a process, or `undefined` when it is gone. */
export function processCpu(pid: number): number | undefined {
  const info = procInfo(pid);
  return info && info.state !== "Z" ? info.cpu : undefined;
}

/**
 * Polls `gone()` every millisecond until it is true or `ms` passed since
 * `start` (a `performance.now()` time, by default now).
 *
 * @returns ms from `start` until it was true, or `undefined` if never.
 */
export async function timeUntil(
  gone: () => boolean,
  ms: number,
  start: number = performance.now(),
): Promise<number | undefined> {
  while (performance.now() - start < ms) {
    if (gone()) return performance.now() - start;
    await new Promise((r) => setTimeout(r, 1));
  }
  return gone() ? performance.now() - start : undefined;
}
