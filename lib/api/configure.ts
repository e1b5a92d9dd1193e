/**
 * `jobs.configure()`: defaults for later jobs and the engine's limits.
 *
 * @module
 */
import {
  type JobPermissions,
  resolvePermissions,
} from "../sandbox/permissions.ts";
import { localPool, useCluster } from "../engine/backend.ts";
import {
  checkCluster,
  type ClusterOptions,
} from "../cluster/cluster_options.ts";
import { settings, wakeQueue } from "../engine/slots.ts";
import { detachedSettings } from "../engine/detached.ts";

/** Defaults for later jobs, set with `jobs.configure()`. */
export interface ConfigureOptions {
  /**
   * Permissions of jobs that do not name their own.
   *
   * @default {"inherit"}
   */
  permissions?: JobPermissions;
  /**
   * Heap cap in MB of jobs that do not name their own.
   *
   * @default {Deno's default}
   */
  memory?: number;
  /**
   * Runtimes per `jobs.map()`. A map asks for them all at once (warm ones
   * from the pool, the rest started in parallel) and starts each lane as
   * soon as its runtime is up.
   *
   * @default {navigator.hardwareConcurrency}
   */
  concurrency?: number;
  /**
   * Idle runtimes kept started for the default permissions; 0 stops
   * (and kills) the idle ones. The pool starts nothing in the background
   * while a `jobs.map()` runs; after a map it keeps as many runtimes as the
   * map used (if more than `warm`) for a minute, so the next map starts
   * warm on every lane. With any `warm`, one launcher is kept made ahead (a
   * `sh` and a `cat`, no Deno, ~3 MB), so a runtime started cold costs what
   * starting `deno run` costs; `jobs.shutdown()` removes it.
   *
   * @default {1}
   */
  warm?: number;
  /**
   * Jobs running at once; later ones wait as `"queued"`.
   *
   * @default {max(8, 4 × cores)}
   */
  maxRunning?: number;
  /**
   * Where `on: "cluster"` jobs run: a NATS server with JetStream and its
   * runners. `"nats://host:4222"`, or {@linkcode ClusterOptions} (servers,
   * cluster name, token or user/password or creds/nkey, TLS); `"local"`
   * starts a `nats-server` on 127.0.0.1 and one runner here, which go with
   * this process; `null` disconnects.
   *
   * @default {none}
   */
  cluster?: string | ClusterOptions | null;
  /**
   * The key this notebook's detached jobs are kept under, so that a later
   * kernel of the notebook finds them (`jobs.attach()`): letters, digits,
   * `_` and `-`.
   *
   * @default {the first 16 hex digits of the SHA-256 of the working directory (a Deno kernel's is the notebook's folder)}
   */
  notebook?: string;
  /**
   * Milliseconds detached jobs are kept in the cluster's store, counted from
   * their start: older records and events are dropped. Applies to the whole
   * store of the cluster (set when this kernel next opens it).
   *
   * @default {7 days}
   */
  retention?: number;
}

/** The registry's current defaults. */
export const defaults: {
  permissions?: JobPermissions;
  memory?: number;
  concurrency: number;
} = { concurrency: navigator.hardwareConcurrency ?? 2 };

/**
 * Applies `jobs.configure()` options; nothing changes when one is bad.
 *
 * @param options What to change.
 * @throws {TypeError} On options that are not an object, or bad permissions.
 * @throws {RangeError} On a count out of range.
 */
export function configure(options: ConfigureOptions): Promise<void> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot configure jobs with ${
        String(options)
      }: pass an object like { maxRunning: 4 }`,
    );
  }
  const count = (name: string, v: unknown, min: number) => {
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < min)) {
      throw new RangeError(
        `Cannot use ${name} ${String(v)}: pass a whole number ≥ ${min}`,
      );
    }
  };
  count("warm", options.warm, 0);
  count("maxRunning", options.maxRunning, 1);
  count("concurrency", options.concurrency, 1);
  count("memory", options.memory, 16);
  count("retention", options.retention, 1000);
  if (
    options.notebook !== undefined &&
    (typeof options.notebook !== "string" ||
      !/^[A-Za-z0-9_-]{1,64}$/.test(options.notebook))
  ) {
    throw new TypeError(
      `Cannot use notebook key ${
        JSON.stringify(options.notebook)
      }: use 1 to 64 letters, digits, "_" and "-"`,
    );
  }
  const cluster = options.cluster === undefined || options.cluster === null ||
      options.cluster === "local"
    ? options.cluster
    : checkCluster(options.cluster);
  if (options.permissions !== undefined) {
    resolvePermissions(options.permissions);
  }
  if ("permissions" in options) defaults.permissions = options.permissions;
  if ("memory" in options) defaults.memory = options.memory;
  if (options.concurrency) defaults.concurrency = options.concurrency;
  if (options.notebook) detachedSettings.notebook = options.notebook;
  if (options.retention) detachedSettings.retention = options.retention;
  if (options.warm !== undefined) localPool().setWarm(options.warm);
  if (options.maxRunning) {
    settings.maxRunning = options.maxRunning;
    wakeQueue();
  }
  if (cluster === undefined) return Promise.resolve();
  const connecting = useCluster(cluster ?? undefined);
  connecting.catch(() => {}); // the jobs that need it say why
  return connecting;
}
