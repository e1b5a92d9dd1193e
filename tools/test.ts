/**
 * `deno task test [files…]`: runs the test suite (`deno test -A`, with the
 * JSDoc examples of the library), streams its
 * output, and ends with one line `N passed, N failed` (N counts tests, as
 * Deno's own summary does). Exits with `deno test`'s exit code.
 *
 * The notebook and browser tests need Debian's Jupyter and Chromium (as root
 * this installs them with apt) and a venv with JupyterLab and Notebook 7
 * (installed from local wheels); when one is missing and cannot be
 * installed, this prints the line that installs it and fails before running
 * anything. A run
 * that takes longer than `BGJOBS_TEST_TIMEOUT_MIN` minutes (default 30) is
 * stopped and counted as failed, so a hung test cannot eat a CI run.
 *
 * @module
 */
import { ensurePrerequisites } from "./_prereq.ts";

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const SUMMARY =
  /^(ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/;

/** Counts from Deno's summary line, or `undefined` if it has none. */
export function parseSummary(
  line: string,
): { passed: number; failed: number } | undefined {
  const match = SUMMARY.exec(line.replace(ANSI, "").trim());
  return match
    ? { passed: Number(match[2]), failed: Number(match[3]) }
    : undefined;
}

async function tee(
  stream: ReadableStream<Uint8Array>,
  sink: { write(bytes: Uint8Array): Promise<number> },
  onLine: (line: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let partial = "";
  for await (const chunk of stream) {
    await writeAll(sink, chunk);
    const lines = (partial + decoder.decode(chunk, { stream: true })).split(
      "\n",
    );
    partial = lines.pop()!;
    lines.forEach(onLine);
  }
  if (partial) onLine(partial);
}

async function writeAll(
  sink: { write(bytes: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await sink.write(bytes.subarray(offset));
  }
}

/**
 * The modules whose JSDoc examples run as tests: the public API and the
 * library, but not the job runtime (a process's main module, not a library).
 */
function docModules(): string[] {
  const root = new URL("../", import.meta.url);
  const modules = ["mod.ts"];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(new URL(dir, root))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      else if (entry.name.endsWith(".ts") && path !== "lib/runtime/main.ts") {
        modules.push(path);
      }
    }
  };
  walk("lib");
  walk("kernel_ext");
  return modules.sort();
}

/**
 * The `bgjobs-*` channel directories in `dir` still there after a few
 * seconds.
 *
 * @param dir The suite's TMPDIR.
 * @returns Their names.
 */
export async function leftovers(dir: string): Promise<string[]> {
  const names = (): string[] => {
    try {
      return [...Deno.readDirSync(dir)].map((e) => e.name)
        .filter((name) => /^bgjobs-[0-9a-f]+$/.test(name));
    } catch {
      return [];
    }
  };
  for (let i = 0; i < 50 && names().length > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return names();
}

/**
 * What is known of a leftover channel directory: its files, its age, and
 * the processes whose command line or open files name it (the launcher of a
 * spare, a runtime), so a leak can be traced from one CI log.
 *
 * @param dir The suite's TMPDIR.
 * @param name The directory's name.
 * @returns One line.
 */
export function describeLeftover(dir: string, name: string): string {
  const path = `${dir}/${name}`;
  let files = "";
  let age = "";
  try {
    files = [...Deno.readDirSync(path)].map((e) => e.name).join(",");
    const { mtime } = Deno.statSync(path);
    if (mtime) age = `${Math.round((Date.now() - mtime.getTime()) / 1000)} s`;
  } catch { /* gone meanwhile */ }
  const holders: string[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`)
        .replaceAll("\0", " ").trim();
      let named = cmd.includes(path);
      if (!named) {
        for (const fd of Deno.readDirSync(`/proc/${entry.name}/fd`)) {
          try {
            if (
              Deno.readLinkSync(`/proc/${entry.name}/fd/${fd.name}`)
                .startsWith(path)
            ) {
              named = true;
              break;
            }
          } catch { /* closed meanwhile */ }
        }
      }
      if (named) holders.push(`${entry.name}: ${cmd.slice(0, 160)}`);
    } catch { /* gone, or not ours to read */ }
  }
  return `${name} [${files}] ${age} old; held by: ${
    holders.length ? holders.join(" | ") : "no process"
  }`;
}

async function main(args: string[]): Promise<number> {
  const problems = await ensurePrerequisites();
  if (problems.length > 0) {
    console.error("The notebook and browser tests cannot run:");
    for (const problem of problems) console.error(`  ${problem}`);
    console.log("0 passed, 1 failed");
    return 1;
  }
  const targets = args.length > 0 ? args : ["--doc", "tests/", ...docModules()];
  // A TMPDIR of the suite's own: what jobs leave there is counted at the end.
  const tmp = await Deno.makeTempDir({ prefix: "bgjobs-suite-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--no-check=remote", ...targets],
    env: { TMPDIR: tmp },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const minutes = Number(Deno.env.get("BGJOBS_TEST_TIMEOUT_MIN") ?? 30);
  let timedOut = false;
  const watchdog = setTimeout(() => {
    timedOut = true;
    console.error(`\nTests still running after ${minutes} min: stopping them.`);
    child.kill("SIGKILL");
  }, minutes * 60_000);
  let summary: { passed: number; failed: number } | undefined;
  const onLine = (line: string): void => {
    summary = parseSummary(line) ?? summary;
  };
  const output = Promise.all([
    tee(child.stdout, Deno.stdout, onLine),
    tee(child.stderr, Deno.stderr, onLine),
  ]);
  const { code } = await child.status;
  clearTimeout(watchdog);
  // A process the tests leaked may hold the pipes open: don't wait forever.
  let grace: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    output,
    new Promise((r) => grace = setTimeout(r, 10_000)),
  ]);
  clearTimeout(grace);
  // No summary means deno test stopped early (a type error, the watchdog):
  // count that as one failure.
  let { passed, failed } = timedOut || !summary
    ? { passed: summary?.passed ?? 0, failed: (summary?.failed ?? 0) + 1 }
    : summary;
  // The last runtimes' watchers clean up as their groups die: give them a
  // moment, then count what is left as a test of its own.
  const left = await leftovers(tmp);
  const described = left.map((name) => describeLeftover(tmp, name));
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  if (left.length) {
    console.error("bgjobs left channel directories in TMPDIR:");
    for (const line of described) console.error(`  ${line}`);
    failed++;
  } else passed++;
  console.log(`${passed} passed, ${failed} failed`);
  return timedOut || left.length ? 1 : code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
