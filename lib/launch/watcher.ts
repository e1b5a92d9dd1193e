// One watcher for all the runtimes this process starts: a shell in a session
// of its own, reading lines from a pipe this process holds. When this process
// ends, however it ends (a SIGKILL, its group killed by Jupyter, a plain exit),
// the pipe closes and the watcher SIGKILLs every process group still listed,
// removes their channel directories, and exits. One shell for all, not one
// subshell per runtime: a fork costs ~2 ms of CPU here, which 1,000 jobs
// would pay 1,000 times.
//
// A line `+ PID DIR` lists a group (a launcher or a runtime leading it, see
// `launch/launcher.ts` and `launch/direct_child.ts`) with its channel
// directory; `- PID` drops it once this process has killed what was left of
// it, so a group id used again by an unrelated process is never killed.
// PID 0 lists a directory alone (`- 0 DIR` drops it): one made before the
// runtime that will use it is started. The shell ignores the signals a
// terminal or a supervisor sends a group (it is not in ours anyway).

import { spawnInSession } from "./launcher.ts";

const WATCHER = [
  "trap '' INT HUP TERM QUIT",
  "nl='\n'",
  "list=",
  "while read -r op pid dir; do",
  "  case $op in",
  '  +) list="$list$nl$pid $dir" ;;',
  '  -) key="$nl$pid ${dir:+$dir}"',
  '    case $list in *"$key"*)',
  '      pre=${list%%"$key"*}',
  '      post=${list#*"$key"}',
  '      case $post in *"$nl"*) post="$nl${post#*"$nl"}" ;; *) post= ;; esac',
  '      list="$pre$post" ;;',
  "    esac ;;",
  "  esac",
  "done",
  "IFS=$nl",
  "set -f",
  "for entry in $list; do",
  '  [ "${entry%% *}" = 0 ] || kill -KILL -"${entry%% *}" 2>/dev/null',
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
  for (const dir of dirs) send(started, `+ 0 ${dir}\n`);
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

// Directories listed alone, until their runtime's group is.
const dirs = new Set<string>();

/**
 * Lists a channel directory not made yet, for the watcher to remove if
 * this process ends first. The line is in the watcher's pipe when this
 * returns: Deno writes to a child's stdin within the call (a SIGKILL right
 * after it still delivers the line, measured), so nothing waits. Dropped
 * with {@linkcode unwatchDir} once a group lists it.
 *
 * @param dir The directory (no newline in it).
 */
export function watchDir(dir: string): void {
  dirs.add(dir);
  watcher ??= start();
  send(watcher, `+ 0 ${dir}\n`);
}

/**
 * Drops a directory listed alone.
 *
 * @param dir The directory, as listed by {@linkcode watchDir}.
 */
export function unwatchDir(dir: string): void {
  if (!dirs.delete(dir) || !watcher) return;
  send(watcher, `- 0 ${dir}\n`);
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
