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
  /** With `--update`: which cases were re-run into an earlier run, when. */
  updated?: string;
  date: string;
  /**
   * ms to first touch 50 MiB of fresh memory (median of 5): what receiving a
   * big result mostly costs. A VM whose host backs memory lazily is slow here.
   */
  fresh_50mib_ms: number;
  /** ms to copy 50 MiB between buffers already touched (median of 5). */
  copy_50mib_ms: number;
}

const median = (xs: number[]): number =>
  Number(xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)].toFixed(1));

/** First-touch and copy costs of 50 MiB on this machine. */
function memoryCosts(): { fresh: number; copy: number } {
  const size = 50 * 2 ** 20;
  const source = new Uint8Array(size).fill(1);
  const fresh: number[] = [];
  const copy: number[] = [];
  for (let i = 0; i < 5; i++) {
    let t = performance.now();
    const target = new Uint8Array(size);
    target.set(source);
    fresh.push(performance.now() - t);
    t = performance.now();
    target.set(source);
    copy.push(performance.now() - t);
  }
  return { fresh: median(fresh), copy: median(copy) };
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
  const costs = memoryCosts();
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
    fresh_50mib_ms: costs.fresh,
    copy_50mib_ms: costs.copy,
  };
}
