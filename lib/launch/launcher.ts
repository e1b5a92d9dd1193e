// How a job runtime process is started: a launcher (a tiny shell, made ahead
// of need, see `launch/spare.ts`) that sets up its file descriptors, waits for
// the kernel's word, then becomes the runtime.

// The launcher, run as `sh -c LAUNCHER bgjobs-runtime OUT START`, leading a
// process group of its own (so one kill reaches the runtime and all it
// started; the kernel's watcher, `launch/watcher.ts`, kills the group if the
// kernel dies). It keeps the stderr pipe (fd 4) for a relay, and merges its
// stderr into stdout, so the job's output keeps its order. Then:
// - It waits for a first line: the channel directory is made. The launcher
//   is started before its directory, so from the moment the directory exists
//   something is there to remove it: end of file instead (the kernel died)
//   removes the directory, made or not, and ends the launcher.
// - It waits for a line on stdin: the kernel's word to start. End of file
//   instead (the kernel died, or dropped it) removes the channel directory
//   and kills the group.
// - The word is `go` when the kernel reads the FIFO the runtime writes its
//   control messages to (OUT) itself, `relay` when it has as many FIFOs to
//   read as it reads at once (see `readFifo()`): then a relay (`cat`) copies
//   OUT into the stderr pipe, which the kernel reads on its event loop. (A
//   FIFO read waits on one of Deno's 32 threads for file operations; some 30
//   running jobs read directly would stall every file operation of the
//   kernel. A relay costs a fork and an exec, ~4 ms of CPU here.)
// - It runs START, which the kernel wrote before its word (the working
//   directory, the environment and the command line of the runtime, see
//   startScript()), and becomes the runtime (`exec`, so the runtime keeps
//   its pid and leads the group), its stdin /dev/null.
// The shell is made ahead; after the word comes only the exec, so a cold
// start costs about what starting `deno run` costs.
import { currentProject } from "../project/project.ts";

const LAUNCHER = [
  "exec 4>&2 2>&1",
  'read -r _ || { rm -rf "${1%/out}"; exit 0; }',
  'read -r word || { rm -rf "${1%/out}"; kill -KILL 0; }',
  'if [ "$word" = relay ]; then cat "$1" >&4 </dev/null 2>/dev/null & fi',
  '. "$2"',
  'exec "$@" 4>&- </dev/null',
].join("\n");

// The job runtime is `runtime/main.ts`, run as one bundled file (`deno task
// bundle`), which loads quicker than its graph of modules.
const RUNTIME_URL = new URL("../runtime/_bundle.js", import.meta.url).href;

// Deno looks for a configuration file (deno.json, package.json) from the
// main module's directory: bgjobs' own, for a runtime run from a checkout,
// whatever the notebook's directory holds. So a runtime gets the notebook's
// configuration named (see `_project.ts`). Priming needs none.
const NO_CONFIG = ["--no-config"];

// The launcher must lead a process group of its own. `detached: true` does
// that, but makes Deno fork() the kernel, which stalls it for as long as
// copying its page tables takes: ~45 ms with 1 GB of notebook data. `setsid`
// (util-linux) makes the group after a cheap posix_spawn, and keeps the pid.
let setsidPath: string | false | undefined;
function setsid(): string | undefined {
  setsidPath ??= ["/usr/bin/setsid", "/bin/setsid"].find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  }) ?? false;
  return setsidPath || undefined;
}

/**
 * Spawns `command` (a program, then its arguments) leading a session, and so
 * a process group, of its own: through `setsid` where there is one, else
 * Deno's `detached`.
 *
 * @param command The program and its arguments.
 * @param options The rest of the command's options.
 * @returns The child.
 */
export function spawnInSession(
  command: string[],
  options: Omit<Deno.CommandOptions, "args" | "detached">,
): Deno.ChildProcess {
  const leader = setsid();
  const [program, ...args] = leader ? [leader, ...command] : command;
  return new Deno.Command(program, { ...options, args, detached: !leader })
    .spawn();
}

/**
 * Spawns a launcher for a runtime whose control FIFO is `out` and whose
 * start script will be `start`. Its stdin is the kernel's word, its stdout
 * the job's output, its stderr the control messages.
 * Its environment is empty: the start script sets the runtime's.
 */
export function spawnLauncher(out: string, start: string): Deno.ChildProcess {
  return spawnInSession(
    ["/bin/sh", "-c", LAUNCHER, "bgjobs-runtime", out, start],
    {
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      clearEnv: true,
      // Not the kernel's directory, which may be gone by the time the shell
      // asks for it (it would say so on the control pipe): START moves there.
      cwd: "/",
    },
  );
}

/** What a runtime process is started with. */
export interface StartSpec {
  /** `deno run` flags: permissions and V8 flags. */
  flags: string[];
  /** Arguments of the runtime's main module. */
  args: string[];
  /** The runtime's environment. */
  env: Record<string, string>;
}

const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

// A name the shell can export; others (`MY-VAR`) the shell drops, and
// `env` sets them instead.
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A runtime's command line, and where and with what it runs. */
export interface RuntimeCommand {
  /** The kernel's working directory, if it has one. */
  cwd: string | undefined;
  /** The runtime's environment. */
  env: Record<string, string>;
  /** The program and its arguments. */
  command: string[];
}

/**
 * A runtime's command line: `deno run`, the notebook's configuration (see
 * `project/project.ts`), the flags and the runtime's arguments, to run in
 * the kernel's working directory.
 */
export function runtimeCommand(spec: StartSpec): RuntimeCommand {
  // No project: the kernel has no directory (removed), the runtime gets /.
  const project = currentProject();
  return {
    cwd: project?.dir,
    env: spec.env,
    command: [
      Deno.execPath(),
      "run",
      "--no-prompt",
      ...project?.flags ?? NO_CONFIG,
      ...spec.flags,
      RUNTIME_URL,
      ...spec.args,
    ],
  };
}

/**
 * The launcher's START script: into the kernel's working directory, the
 * runtime's environment, and its command line, as `"$@"`.
 */
export function startScript(spec: StartSpec): string {
  const { cwd, env, command } = runtimeCommand(spec);
  const lines: string[] = [];
  if (cwd) lines.push(`cd ${quote(cwd)} && unset OLDPWD`);
  const others: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (SHELL_NAME.test(name)) lines.push(`export ${name}=${quote(value)}`);
    else others.push(`${name}=${value}`);
  }
  if (others.length) command.unshift("env", ...others);
  lines.push(`set -- ${command.map(quote).join(" ")}`);
  return lines.join("\n") + "\n";
}

// A runtime's young generation is collected by mark-sweep (V8's MinorMS)
// instead of the copying scavenger. A job's result is its youngest data: the
// scavenger copied up to 16 MiB of it into fresh old-space pages as soon as
// the runtime began taking the result apart (~4,000 page faults here), where
// MinorMS promotes its pages in place. 200,000 records into a kernel: medians
// 139-167 ms in four bench runs against 188 the same hour; seven other
// workloads within about 10% either way (`bench/RESULTS.md`). The runtime's
// compiled code is stored by a run with the same flags (`primeRuntime()`):
// V8 refuses code stored under others.
const YOUNG_GC = "--minor-ms";

/**
 * A runtime's `--v8-flags`: its young-generation collector, and its heap
 * capped at `memory` MB when given.
 *
 * @param memory The old generation's cap in MB, if any.
 * @returns The flag, as `deno run` takes it.
 */
export function v8Flags(memory?: number): string {
  const flags = [YOUNG_GC];
  if (memory) flags.push(`--max-old-space-size=${memory}`);
  return `--v8-flags=${flags.join(",")}`;
}

let primed = false;

/**
 * Runs the job runtime once with no arguments, which only loads it: that
 * run stores its compiled code (see the end of `runtime/main.ts`), and runtimes
 * started after it (with the same `DENO_DIR`, in `env`) skip compiling it.
 * Once per process, in the background: called once a runtime has started, so
 * the two do not share the cores. Failing changes nothing but the speed.
 */
export function primeRuntime(env: Record<string, string>): void {
  if (primed) return;
  primed = true;
  new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", v8Flags(), ...NO_CONFIG, RUNTIME_URL],
    stdin: "null",
    stdout: "null",
    stderr: "null",
    clearEnv: true,
    env,
  }).output().catch(() => {});
}
