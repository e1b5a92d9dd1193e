/**
 * The machine a bench ran on, for `RESULTS.md`: CPU, cores, memory, load,
 * and the versions of everything measured.
 *
 * @module
 */
import { PYTHON } from "./_contenders/external.ts";

/** What the machine and its tools are. */
export interface Machine {
  cpu: string;
  cores: number;
  memory_gb: number;
  /** 1-minute load average when the bench started (other work on the box). */
  load_start: number;
  load_end?: number;
  os: string;
  deno: string;
  node: string;
  python: string;
  /** The bgjobs commit measured, with "+ local changes" when lib/ differs. */
  commit: string;
  /** The commit when the run ended, if lib/ changed while it ran. */
  commit_end?: string;
  date: string;
}

async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) ||
      new TextDecoder().decode(out.stderr);
    return text.trim().split("\n")[0] || "unknown";
  } catch {
    return "not installed";
  }
}

/** The 1-minute load average. */
export function loadAverage(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return NaN;
  }
}

function osName(): string {
  try {
    const text = Deno.readTextFileSync("/etc/os-release");
    return /^PRETTY_NAME="?([^"\n]*)/m.exec(text)?.[1] ?? Deno.build.os;
  } catch {
    return Deno.build.os;
  }
}

/** The bgjobs commit in the work tree now (with "+ local changes …"). */
export async function commitOf(): Promise<string> {
  const root = new URL("..", import.meta.url).pathname;
  const head = await firstLine("git", [
    "-C",
    root,
    "rev-parse",
    "--short",
    "HEAD",
  ]);
  const dirty = await firstLine("git", [
    "-C",
    root,
    "status",
    "--porcelain",
    "--",
    "lib",
    "mod.ts",
    "kernel_ext",
  ]);
  const clean = dirty === "unknown" || dirty === "not installed";
  return clean ? head : `${head} + local changes in lib/`;
}

/** Describes this machine. */
export async function describeMachine(): Promise<Machine> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const cpu = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ??
    "unknown";
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    memory_gb: Math.round(Deno.systemMemoryInfo().total / 2 ** 30 * 10) / 10,
    load_start: loadAverage(),
    os: osName(),
    deno: `${Deno.version.deno} (V8 ${Deno.version.v8})`,
    node: await firstLine("node", ["--version"]),
    python: await firstLine(PYTHON, ["--version"]),
    commit: await commitOf(),
    date: new Date().toISOString(),
  };
}
