// The job runtime's side of `progress()` and `share()`: the hooks the
// job's calls find, sending what they are given to the kernel.
import { JOB_HOOKS, type JobHooks, progress, share } from "./report.ts";
import type { RuntimeMessage } from "../protocol/messages.ts";
import { sendShared } from "./scope.ts";

/** Progress goes to the kernel at most this often; the last always does. */
const PROGRESS_EVERY_MS = 50;

/**
 * Installs the hooks `progress()` and `share()` call in a job runtime, and
 * both as globals (a notebook function that calls the imported `progress`
 * finds it there too). `send` writes a message to the kernel synchronously,
 * so both work from a busy loop.
 *
 * @returns `flushProgress()`, which sends progress held back (call it before
 * the job's end is sent).
 */
export function installJobHooks(
  send: (message: RuntimeMessage) => void,
): { flushProgress(): void } {
  let lastProgressAt = 0;
  let pending: { done: number; total?: number } | undefined;
  // Progress held back is sent when this signal's timer fires, unless sent
  // before. Not setTimeout(): a process's first setTimeout() loads Deno's
  // Node-compatible timers, ~13 ms of CPU here, which a job looping over
  // progress() would stall for; the signal's timer costs ~3.
  let waiting: AbortSignal | undefined;

  function flushProgress(): void {
    waiting = undefined;
    if (!pending) return;
    lastProgressAt = performance.now();
    send({ t: "progress", ...pending });
    pending = undefined;
  }

  const hooks: JobHooks = {
    progress(done, total): void {
      pending = total === undefined ? { done } : { done, total };
      const wait = lastProgressAt + PROGRESS_EVERY_MS - performance.now();
      if (wait <= 0) flushProgress();
      else if (!waiting) {
        const signal = waiting = AbortSignal.timeout(wait);
        signal.onabort = () => {
          if (waiting === signal) flushProgress();
        };
      }
    },
    share(name, value): void {
      sendShared(name, value, send);
    },
  };
  Object.defineProperty(globalThis, JOB_HOOKS, { value: hooks });
  Object.defineProperties(globalThis, {
    progress: { value: progress, configurable: true, writable: true },
    share: { value: share, configurable: true, writable: true },
  });
  return { flushProgress };
}
