/**
 * Warm job runtimes: started ahead of need so a job starts in milliseconds.
 * A runtime serves one job and is thrown away, so nothing leaks between jobs.
 *
 * The pool keeps `warm` idle runtimes for the default spec and tops itself
 * up after each job takes one. While a `jobs.map()` runs it holds the pool:
 * no runtime is started in the background, so the map has every core to
 * itself; when the map ends the pool tops up to as many runtimes as the map
 * used, and keeps that many for {@linkcode MAP_WARM_MS}, so the next map
 * starts warm on every lane too.
 *
 * @module
 */
import { RuntimeProcess } from "./runtime_process.ts";
import type { RuntimeSpec } from "../sandbox/runtime_spec.ts";
import type { RunMessage } from "../protocol/messages.ts";
import { dropSpare } from "./spare.ts";

/** How long a job from the pool runs before the pool starts the next one anyway. */
const REFILL_AFTER_MS = 1000;

interface Warm {
  runtime: Promise<RuntimeProcess>;
  dead: boolean;
}

/** How long after a map the pool keeps as many runtimes as the map used: 60 s. */
export const MAP_WARM_MS = 60_000;

function keyOf(spec: RuntimeSpec): string {
  // Sorted: Deno.env.toObject() lists variables in no fixed order.
  const env = Object.entries(spec.env).sort(([a], [b]) => (a < b ? -1 : 1));
  return JSON.stringify([spec.flags, spec.memory ?? 0, env]);
}

/** A pool of idle runtimes, by launch spec. */
export class RuntimePool {
  #idle = new Map<string, Warm[]>();
  #warm = 1;
  #warmSpec: RuntimeSpec | undefined;
  #started = 0;
  #reused = 0;
  #holds = 0;
  #mapLanes = 0;
  #mapTimer: ReturnType<typeof setTimeout> | undefined;

  /** How many runtimes this pool started, and how many jobs got a warm one. */
  get stats(): { started: number; reused: number } {
    return { started: this.#started, reused: this.#reused };
  }

  /** How many idle runtimes to keep for the default spec. */
  get warm(): number {
    return this.#warm;
  }

  /** How many idle runtimes the pool tops up to now (more after a map). */
  get target(): number {
    return this.#warm === 0 ? 0 : Math.max(this.#warm, this.#mapLanes);
  }

  /** Whether a map holds the pool (no background starts) right now. */
  get held(): boolean {
    return this.#holds > 0;
  }

  /** Sets how many runtimes to keep warm, killing extra idle ones. */
  setWarm(count: number): void {
    this.#warm = count;
    this.#trimToTarget();
  }

  /**
   * Holds the pool for a map of `lanes` runtimes: until the returned
   * function is called, the pool starts no runtime in the background (the
   * map's own cold starts still happen). On release the pool tops up to
   * `lanes` runtimes (unless `warm` is 0) and keeps that many for
   * {@linkcode MAP_WARM_MS}.
   *
   * @param lanes How many runtimes to keep warm after the map (0 for a map
   * that does not use the default spec).
   * @returns Releases the hold; calling it again does nothing.
   */
  hold(lanes: number): () => void {
    this.#holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holds--;
      this.#mapLanes = Math.max(this.#mapLanes, lanes);
      clearTimeout(this.#mapTimer);
      this.#mapTimer = setTimeout(() => {
        this.#mapLanes = 0;
        this.#mapTimer = undefined;
        this.#trimToTarget();
      }, MAP_WARM_MS);
      Deno.unrefTimer(this.#mapTimer);
      // After the map's result has reached whoever awaits it: a spawn takes
      // ~2 ms of this thread, and the refill starts two or more.
      setTimeout(() => this.#refill(), 0);
    };
  }

  /**
   * Takes an idle runtime started with `spec`, or starts one (given
   * `first`, the message it will run, to have as it starts), then tops the
   * pool up in the background (unless a map holds it).
   */
  async acquire(
    spec: RuntimeSpec,
    isDefault: boolean,
    first?: RunMessage,
  ): Promise<RuntimeProcess> {
    const key = keyOf(spec);
    if (isDefault) this.#warmSpec = spec;
    const idle = this.#idle.get(key) ?? [];
    let warm: Warm | undefined;
    while ((warm = idle.shift())) {
      if (warm.dead) continue;
      const runtime = await warm.runtime.catch(() => undefined);
      if (runtime && !warm.dead) {
        this.#reused++;
        this.#refillAfter(runtime);
        return runtime;
      }
    }
    this.#started++;
    const runtime = RuntimeProcess.start(spec, first);
    runtime.then(() => this.#refill(), () => {});
    return await runtime;
  }

  /**
   * Tops the pool up once `runtime`'s job is over, or has run for
   * {@linkcode REFILL_AFTER_MS}. A runtime starting takes a core for tens of
   * ms (and a spawn stalls the kernel ~2 ms): on 2 cores, a job that ends
   * while one starts gets its result ~5 ms later, and a 50 MB one ~10 ms.
   * Jobs started in quick succession still find one warm: the next starts
   * when the last ends.
   */
  #refillAfter(runtime: RuntimeProcess): void {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const refill = () => {
      if (timer === undefined) return;
      clearTimeout(timer);
      timer = undefined;
      setTimeout(() => this.#refill(), 0);
    };
    timer = setTimeout(refill, REFILL_AFTER_MS);
    Deno.unrefTimer(timer);
    runtime.exited.then(refill, refill);
  }

  #refill(): void {
    const spec = this.#warmSpec;
    if (!spec || this.#holds > 0) return;
    const key = keyOf(spec);
    const idle = this.#idle.get(key) ?? [];
    this.#idle.set(key, idle);
    while (idle.filter((w) => !w.dead).length < this.target) {
      this.#started++;
      const warm: Warm = { runtime: RuntimeProcess.start(spec), dead: false };
      warm.runtime.then(
        (r) => r.exited.then(() => warm.dead = true),
        () => warm.dead = true,
      );
      idle.push(warm);
    }
  }

  #trimToTarget(): void {
    if (!this.#warmSpec) return;
    const idle = this.#idle.get(keyOf(this.#warmSpec)) ?? [];
    for (const warm of idle.splice(this.target)) {
      warm.dead = true;
      warm.runtime.then((r) => r.kill(), () => {});
    }
  }

  /** Kills every idle runtime (and the spare launcher); resolves once they are gone. */
  async drain(): Promise<void> {
    const all = [...this.#idle.values()].flat();
    this.#idle.clear();
    this.#warmSpec = undefined;
    clearTimeout(this.#mapTimer);
    this.#mapTimer = undefined;
    this.#mapLanes = 0;
    await Promise.all(all.map(async (warm) => {
      warm.dead = true;
      const runtime = await warm.runtime.catch(() => undefined);
      await runtime?.kill();
    }));
    dropSpare(); // last: a runtime that was starting made one when up
  }
}
