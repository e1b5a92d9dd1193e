// One watcher for all the runtimes this process starts: a shell in a session
// of its own, reading lines from a pipe this process holds. When this process
// ends, however it ends (a SIGKILL, its group killed by Jupyter, a plain exit),
// the pipe closes and the watcher SIGKILLs every process group still listed,
// removes their channel directories, and exits. One shell for all, not one
// subshell per runtime: a fork costs ~2 ms of CPU here, which 1,000 jobs
// would pay 1,000 times.
//
// A line `+ PID DIR` lists a group (a launcher leading it, see
// `launch/launcher.ts`) with its channel directory; `- PID` drops it once
// this process has killed what was left of it, so a group id used again by
// an unrelated process is never killed. The shell ignores the signals a
// terminal or a supervisor sends a group (it is not in ours anyway).

import { spawnInSession } from "./launcher.ts";

const WATCHER = [
  "trap '' INT HUP TERM QUIT",
  "nl='\n'",
  "list=",
  "while read -r op pid dir; do",
  "  case $op in",
  '  +) list="$list$nl$pid $dir" ;;',
  '  -) case $list in *"$nl$pid "*)',
  '      pre=${list%%"$nl$pid "*}',
  '      post=${list#*"$nl$pid "}',
  '      case $post in *"$nl"*) post="$nl${post#*"$nl"}" ;; *) post= ;; esac',
  '      list="$pre$post" ;;',
  "    esac ;;",
  "  esac",
  "done",
  "IFS=$nl",
  "set -f",
  "for entry in $list; do",
  '  kill -KILL -"${entry%% *}" 2>/dev/null',
  '  rm -rf "${entry#* }"',
  "done",
].join("\n");

interface Watcher {
  child: Deno.ChildProcess;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
}

let watcher: Watcher | undefined;
// Groups listed, with their directories: listed again in a new watcher if
// the last one was killed.
const listed = new Map<number, string>();
const encoder = new TextEncoder();

function start(): Watcher {
  const child = spawnInSession(["/bin/sh", "-c", WATCHER, "bgjobs-watcher"], {
    stdin: "piped",
    stdout: "null",
    stderr: "null",
    clearEnv: true,
    cwd: "/",
  });
  child.unref();
  const started = { child, stdin: child.stdin.getWriter() };
  child.status.then(() => {
    if (watcher === started) watcher = undefined;
  });
  for (const [pid, dir] of listed) send(started, `+ ${pid} ${dir}\n`);
  return started;
}

function send(to: Watcher, line: string): void {
  to.stdin.write(encoder.encode(line)).catch(() => {}); // gone: started again
}

/**
 * Lists a launcher's process group, which now leads a group of its own, for
 * the watcher to kill (and its directory to remove) if this process ends
 * first. The watcher is started with the first.
 *
 * @param pid The launcher's pid, its group's id.
 * @param dir Its channel directory (no newline in it).
 */
export function watchGroup(pid: number, dir: string): void {
  listed.set(pid, dir);
  watcher ??= start();
  send(watcher, `+ ${pid} ${dir}\n`);
}

/**
 * Drops a group from the watcher's list, once this process has killed what
 * was left of it: its id may be used again.
 *
 * @param pid The group's id.
 */
export function unwatchGroup(pid: number): void {
  if (!listed.delete(pid) || !watcher) return;
  send(watcher, `- ${pid}\n`);
}
