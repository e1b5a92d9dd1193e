// Looking at processes through /proc: what a kill leaves behind.

/** A process as /proc/<pid>/stat tells it. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
  state: string;
  /** User + system CPU time in clock ticks. */
  cpu: number;
}

/** Reads /proc/<pid>/stat, or `undefined` when the process is gone. */
export function procInfo(pid: number): ProcInfo | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    pid,
    state: fields[0],
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    cpu: Number(fields[11]) + Number(fields[12]),
  };
}

/** Every live (not zombie) process. */
export function allProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const info = procInfo(Number(entry.name));
    if (info && info.state !== "Z" && info.state !== "X") out.push(info);
  }
  return out;
}

/** Live processes of a process group. */
export function groupMembers(pgid: number): ProcInfo[] {
  return allProcesses().filter((p) => p.pgid === pgid);
}

/** Whether a process is alive (a zombie counts as gone: it runs nothing). */
export function isAlive(pid: number): boolean {
  const info = procInfo(pid);
  return info !== undefined && info.state !== "Z" && info.state !== "X";
}

/** Waits until `check()` is true, polling; false when `ms` ran out. */
export async function eventually(
  check: () => boolean,
  ms = 2000,
): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return check();
}

/** Every live process below `pid` (children, their children …). */
export function descendantsOf(pid: number): ProcInfo[] {
  const all = allProcesses();
  const out: ProcInfo[] = [];
  const parents = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all) {
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid);
        out.push(p);
        grew = true;
      }
    }
  }
  return out;
}

/** Live processes whose command line holds `text`. */
export function namingAlive(text: string): number[] {
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes(text) && isAlive(Number(entry.name))) {
        out.push(Number(entry.name));
      }
    } catch { /* gone */ }
  }
  return out;
}
