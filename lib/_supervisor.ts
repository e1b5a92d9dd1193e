// How a job runtime process is started: a tiny shell (the supervisor) that
// sets up its file descriptors and helpers, then becomes the runtime.

// The supervisor, run as `sh -c SUPERVISOR bgjobs-runtime OUT deno run ...`.
// It keeps the kernel's end of stdin (fd 3) for a watcher and the stderr pipe
// (fd 4) for a relay, then becomes the runtime (`exec`, so the runtime keeps
// its pid and leads the process group), its stdin /dev/null and its stderr
// merged into stdout, so the job's output keeps its order.
// - The watcher (a subshell using the shell's own `read`) reads stdin until
//   end-of-file (the kernel closed it, or the kernel died), then SIGKILLs the
//   process group: the runtime and all it started.
// - The relay (`cat`) copies the FIFO the runtime writes its control messages
//   to (OUT) into the stderr pipe, which the kernel reads on its event loop.
//   Read directly, a FIFO takes one of Deno's 32 threads for file operations
//   per waiting read, for as long as a job runs: some 30 running jobs would
//   hold them all and stall every file operation of the kernel.
const SUPERVISOR = [
  "exec 3<&0 4>&2 2>&1",
  "(while read -r _; do :; done; kill -KILL 0) <&3 >/dev/null 2>&1 4>&- &",
  'cat "$1" >&4 3<&- </dev/null 2>/dev/null &',
  "exec 3<&- 4>&- </dev/null",
  "shift",
  'exec "$@"',
].join("\n");

// The job runtime is `runtime.ts`, run as one bundled file (`deno task
// bundle`), which loads quicker than its graph of modules.
const RUNTIME_URL = new URL("./_runtime_bundle.js", import.meta.url).href;

// Deno looks for a configuration file (deno.json, and its lock file) from the
// main module's directory; for a runtime run from local files (a checkout of
// bgjobs) that finds bgjobs' own, which is not the notebook's and has nothing
// for the job (and a job's `npm:` import would write to its lock file), and
// looking costs ~1 ms of every cold start. A runtime loaded from a registry
// keeps Deno's default: the configuration of the notebook's directory.
const CONFIG = RUNTIME_URL.startsWith("file:") ? ["--no-config"] : [];

// The supervisor must lead a process group of its own (so one kill reaches
// the runtime and all it started). `detached: true` does that, but makes Deno
// fork() the kernel, which stalls it for as long as copying its page tables
// takes: ~45 ms with 1 GB of notebook data. `setsid` (util-linux) makes the
// group after a cheap posix_spawn, and keeps the pid.
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

/** What a runtime process is started with. */
export interface SpawnSpec {
  /** `deno run` flags: permissions and V8 flags. */
  flags: string[];
  /** Arguments of the runtime's main module. */
  args: string[];
  /** The FIFO the runtime writes its control messages to. */
  out: string;
  /** The environment the runtime sees. */
  env: Record<string, string>;
}

/**
 * Spawns a job runtime under its supervisor. Its stdin is the watcher's (the
 * kernel keeps the other end), its stdout the job's output, its stderr the
 * control messages from the runtime.
 */
export function spawnRuntime(spec: SpawnSpec): Deno.ChildProcess {
  const deno = [
    Deno.execPath(),
    "run",
    "--no-prompt",
    ...CONFIG,
    ...spec.flags,
  ];
  const shell = ["/bin/sh", "-c", SUPERVISOR, "bgjobs-runtime", spec.out];
  const leader = setsid();
  const [program, ...rest] = leader ? [leader, ...shell] : shell;
  return new Deno.Command(program, {
    args: [...rest, ...deno, RUNTIME_URL, ...spec.args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    detached: !leader,
    clearEnv: true,
    env: spec.env,
  }).spawn();
}

let primed = false;

/**
 * Runs the job runtime once with no arguments, which only loads it: that
 * run stores its compiled code (see the end of `runtime.ts`), and runtimes
 * started after it (with the same `DENO_DIR`, in `env`) skip compiling it.
 * Once per process, in the background: called once a runtime has started, so
 * the two do not share the cores. Failing changes nothing but the speed.
 */
export function primeRuntime(env: Record<string, string>): void {
  if (primed) return;
  primed = true;
  new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...CONFIG, RUNTIME_URL],
    stdin: "null",
    stdout: "null",
    stderr: "null",
    clearEnv: true,
    env,
  }).output().catch(() => {});
}
