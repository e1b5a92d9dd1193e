// Slots under `maxRunning`: a job takes one before it gets a runtime and
// gives it back when it ends; waiting jobs are woken in order.

/** Engine settings, changed with `jobs.configure()`. */
export const settings = {
  maxRunning: Math.max(8, 4 * (navigator.hardwareConcurrency ?? 2)),
};

const waiting: (() => void)[] = [];
let running = 0;

/** Hands free slots to queued jobs (after a job ended or `maxRunning` rose). */
export function wakeQueue(): void {
  while (running < settings.maxRunning && waiting.length) {
    running++; // the slot passes to the woken job before anything else runs
    waiting.shift()!();
  }
}

/** Gives a slot back and wakes the next queued job. */
export function releaseSlot(): void {
  running--;
  wakeQueue();
}

/** Takes a slot now, or waits for one to be handed over. */
export function takeSlot(): Promise<void> | void {
  if (running < settings.maxRunning && waiting.length === 0) {
    running++;
    return;
  }
  return new Promise<void>((resolve) => waiting.push(resolve));
}
