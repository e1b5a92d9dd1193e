// Processes of a job runtime as the kernel sees them: killing a process
// group, finding what is left of it in /proc, and reading how it ended.

const SIGNALS: Record<number, string> = {
  1: "SIGHUP",
  2: "SIGINT",
  4: "SIGILL",
  5: "SIGTRAP",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  11: "SIGSEGV",
  15: "SIGTERM",
};

/** SIGKILLs a process group, if any of it is left. */
export function killGroup(pid: number): void {
  try {
    Deno.kill(-pid, "SIGKILL");
  } catch { /* already gone */ }
}

/** The processes below `pid`, from /proc (none where there is no /proc). */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const visit = (parent: number) => {
    let children: string;
    try {
      children = Deno.readTextFileSync(
        `/proc/${parent}/task/${parent}/children`,
      );
    } catch {
      return;
    }
    for (
      const child of children.trim().split(" ").filter(Boolean).map(Number)
    ) {
      out.push(child);
      if (out.length < 10_000) visit(child);
    }
  };
  visit(pid);
  return out;
}

/** Whether a process still runs (a zombie has released its CPU and memory). */
export function running(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat[stat.lastIndexOf(")") + 2];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** How a process ended: its exit code, and the signal that killed it. */
export function exitOf(
  status: Deno.CommandStatus,
): { code: number; signal: string | null } {
  if (status.signal) return { code: status.code, signal: status.signal };
  // The supervisor reports a runtime killed by signal N as exit code 128 + N.
  const signal = status.code > 128 ? SIGNALS[status.code - 128] ?? null : null;
  return { code: status.code, signal };
}
