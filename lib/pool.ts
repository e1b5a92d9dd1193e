/**
 * Warm job runtimes: started ahead of need so a job starts in milliseconds.
 * A runtime serves one job and is thrown away, so nothing leaks between jobs.
 *
 * @module
 */
import { RuntimeProcess, type RuntimeSpec } from "./runtime_process.ts";

/** How long a job from the pool runs before the pool starts the next one anyway. */
const REFILL_AFTER_MS = 1000;

interface Warm {
  runtime: Promise<RuntimeProcess>;
  dead: boolean;
}

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

  /** How many runtimes this pool started, and how many jobs got a warm one. */
  get stats(): { started: number; reused: number } {
    return { started: this.#started, reused: this.#reused };
  }

  /** How many idle runtimes to keep for the default spec. */
  get warm(): number {
    return this.#warm;
  }

  /** Sets how many runtimes to keep warm, killing extra idle ones. */
  setWarm(count: number): void {
    this.#warm = count;
    if (this.#warmSpec) this.#trim(keyOf(this.#warmSpec), count);
  }

  /**
   * Takes an idle runtime started with `spec`, or starts one, then tops
   * the pool up in the background.
   */
  async acquire(
    spec: RuntimeSpec,
    isDefault: boolean,
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
    const runtime = RuntimeProcess.start(spec);
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
    if (!spec) return;
    const key = keyOf(spec);
    const idle = this.#idle.get(key) ?? [];
    this.#idle.set(key, idle);
    while (idle.filter((w) => !w.dead).length < this.#warm) {
      this.#started++;
      const warm: Warm = { runtime: RuntimeProcess.start(spec), dead: false };
      warm.runtime.then(
        (r) => r.exited.then(() => warm.dead = true),
        () => warm.dead = true,
      );
      idle.push(warm);
    }
  }

  #trim(key: string, keep: number): void {
    const idle = this.#idle.get(key) ?? [];
    for (const warm of idle.splice(keep)) {
      warm.dead = true;
      warm.runtime.then((r) => r.kill(), () => {});
    }
  }

  /** Kills every idle runtime; resolves once they are gone. */
  async drain(): Promise<void> {
    const all = [...this.#idle.values()].flat();
    this.#idle.clear();
    this.#warmSpec = undefined;
    await Promise.all(all.map(async (warm) => {
      warm.dead = true;
      const runtime = await warm.runtime.catch(() => undefined);
      await runtime?.kill();
    }));
  }
}
