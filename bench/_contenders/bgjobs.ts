/**
 * bgjobs as a contender: loaded from the repo's `mod.ts`, with the warm pool
 * primed (or turned off for the cold contender).
 *
 * @module
 */
import { sleep } from "../_stats.ts";

type Mod = typeof import("../../mod.ts");

/** `mod.ts`, loaded on first use (so other contenders never load it). */
export function bgjobs(): Promise<Mod> {
  return import("../../mod.ts");
}

/** ms to wait for the pool to start a runtime ahead of the next job. */
export function refillWait(quick: boolean): number {
  return quick ? 300 : 500;
}

/**
 * Sets the pool up: `warm` keeps one runtime started ahead (and starts it
 * now, by running a job); cold turns the pool off.
 */
export async function preparePool(
  mode: "warm" | "cold",
  quick: boolean,
): Promise<Mod> {
  const mod = await bgjobs();
  if (mode === "cold") {
    mod.jobs.configure({ warm: 0 });
    return mod;
  }
  mod.jobs.configure({ warm: 1 });
  await mod.job(() => 0); // the pool starts with the first job
  await sleep(refillWait(quick));
  return mod;
}

/** Whether `jobs.map` exists yet (it is being written). */
export function hasMap(mod: Mod): boolean {
  return typeof (mod.jobs as unknown as { map?: unknown }).map === "function";
}

/** `jobs.map` as the bench calls it. */
export type MapFn = <T, R>(
  items: T[],
  fn: (item: T) => R,
  options?: { concurrency?: number },
) => PromiseLike<R[]>;

/** `jobs.map`, typed for the bench (check {@linkcode hasMap} first). */
export function mapOf(mod: Mod): MapFn {
  const jobs = mod.jobs as unknown as { map: MapFn };
  return jobs.map.bind(jobs);
}
