// A bgjobs cache of its own for detached-job tests: its durable local
// cluster (nats-server and runner under <cache>/detached) is the test's,
// and stopped at the end. The npm bundles are copied from the real cache.
import { cacheDir } from "../lib/deps/npm_bundle.ts";
import { isAlive } from "./_procs.ts";
import { jobs } from "../mod.ts";

/** A temporary bgjobs cache; disposing kills its durable cluster. */
export async function detachedCache(): Promise<
  { dir: string } & AsyncDisposable
> {
  const real = cacheDir();
  const dir = await Deno.makeTempDir({ prefix: "bgjobs_detached_" });
  for await (const entry of real ? Deno.readDir(real) : []) {
    if (entry.isFile && entry.name.endsWith(".js")) {
      await Deno.copyFile(`${real}/${entry.name}`, `${dir}/${entry.name}`);
    }
  }
  return {
    dir,
    async [Symbol.asyncDispose](): Promise<void> {
      for (const pid of durablePids(dir)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** The pids the durable cluster's file records, those alive. */
export function durablePids(dir: string): number[] {
  try {
    const file = JSON.parse(
      Deno.readTextFileSync(`${dir}/detached/cluster.json`),
    );
    return [file.runner, file.server].filter(isAlive);
  } catch {
    return [];
  }
}

/**
 * Runs `fn` with `BGJOBS_CACHE_DIR` set to a cache of its own and the
 * notebook key `notebook`; then shuts jobs down and kills the durable
 * cluster.
 */
export async function withDetachedCache(
  notebook: string,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  await using cache = await detachedCache();
  Deno.env.set("BGJOBS_CACHE_DIR", cache.dir);
  try {
    await jobs.configure({ notebook });
    await fn(cache.dir);
  } finally {
    await jobs.shutdown();
    Deno.env.delete("BGJOBS_CACHE_DIR");
  }
}
