/**
 * Detached jobs (`detached: true`): where they run (the configured cluster,
 * or else the durable local cluster), the notebook key and retention they
 * are kept under, and their records in the cluster's store, which a later
 * kernel of the same notebook reads (`jobs.attach()`, see `attach.ts`).
 *
 * @module
 */
import { ClusterBackend } from "../cluster/cluster_backend.ts";
import {
  DEFAULT_RETENTION_MS,
  type DetachedRecord,
  DetachedStore,
} from "../cluster/detached_store.ts";
import {
  durableClusterUsed,
  ensureDurableCluster,
  stopDurableCluster,
} from "../cluster/durable_cluster.ts";
import type { RunMessage } from "../protocol/messages.ts";
import {
  type Backend,
  configuredCluster,
  configuredClusterSet,
  type Runtime,
} from "./backend.ts";
import type { JobState } from "./job_state.ts";

/** How detached jobs are kept: set with `jobs.configure()`. */
export const detachedSettings: {
  /** The notebook's key; `undefined`: derived from the working directory. */
  notebook?: string;
  /** ms a detached job is kept, from its start. */
  retention: number;
} = { retention: DEFAULT_RETENTION_MS };

/**
 * The notebook's key: the one set with `jobs.configure({ notebook })`, or
 * the first 16 hex digits of the SHA-256 of the working directory (a Deno
 * kernel's is the notebook's folder).
 *
 * @returns The key.
 */
export async function notebookKey(): Promise<string> {
  if (detachedSettings.notebook) return detachedSettings.notebook;
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(Deno.cwd()),
  );
  return new Uint8Array(digest, 0, 8).toHex();
}

/** A cluster for detached jobs, and its store. */
export interface DetachedLink {
  backend: ClusterBackend;
  store: DetachedStore;
}

let durable: Promise<ClusterBackend> | undefined;

/**
 * The cluster detached jobs run on, with its store open: the configured
 * one, or else the durable local cluster (started when it does not run).
 *
 * @returns The link.
 * @throws {Error} When the cluster cannot be reached or started.
 */
export async function detachedLink(): Promise<DetachedLink> {
  let backend = await configuredCluster();
  if (!backend) {
    durable ??= (async () => {
      const connected = await ClusterBackend.connect(
        await ensureDurableCluster(),
      );
      await connected.waitForRunners(60_000);
      return connected;
    })();
    durable.catch(() => durable = undefined);
    backend = await durable;
  }
  return { backend, store: await storeOf(backend) };
}

// Opening a store asks the server several things (~4 ms): once per cluster
// and retention, not once per job.
const stores = new WeakMap<
  ClusterBackend,
  { retention: number; store: Promise<DetachedStore> }
>();

function storeOf(backend: ClusterBackend): Promise<DetachedStore> {
  const { retention } = detachedSettings;
  const known = stores.get(backend);
  if (known?.retention === retention) return known.store;
  const store = DetachedStore.open(backend.nc, backend.names, retention);
  stores.set(backend, { retention, store });
  store.catch(() => {
    if (stores.get(backend)?.store === store) stores.delete(backend);
  });
  return store;
}

/**
 * Whether detached jobs may be kept anywhere: a cluster is configured, or
 * the durable local cluster ran here once (else `attach()` need not start
 * it to find nothing).
 *
 * @returns Whether they may.
 */
export function detachedJobsMayExist(): boolean {
  return configuredClusterSet() || durable !== undefined ||
    durableClusterUsed();
}

/**
 * Stops this kernel's use of the durable local cluster and the cluster
 * itself (its runner kills the jobs it runs); its store stays.
 *
 * @returns Whether it was running.
 */
export async function stopDetachedCluster(): Promise<boolean> {
  await closeDetachedLink();
  return await stopDurableCluster();
}

/** What a detached job is, besides where it runs. */
export type DetachedJob = Omit<
  DetachedRecord,
  "rid" | "runner" | "startedAt" | "attempt"
>;

const detachedStates = new WeakSet<JobState>();

/**
 * Marks a job as detached (`jobs.shutdown()` leaves it running).
 *
 * @param state The job's state.
 */
export function markDetached(state: JobState): void {
  detachedStates.add(state);
}

/**
 * Whether a job is detached.
 *
 * @param state The job's state.
 * @returns Whether it is.
 */
export function isDetached(state: JobState): boolean {
  return detachedStates.has(state);
}

/** Closes this kernel's connection to the durable local cluster, if any. */
export async function closeDetachedLink(): Promise<void> {
  const closing = durable;
  durable = undefined;
  await (await closing?.catch(() => undefined))?.close();
}

/** Where detached jobs are kept, by their state, for `jobs.remove()`. */
const kept = new WeakMap<
  JobState,
  { store: DetachedStore; notebook: string; record: DetachedRecord }
>();

/**
 * Remembers where a job is kept.
 *
 * @param state The job's state.
 * @param store Its cluster's store.
 * @param notebook The notebook's key.
 * @param record Its record.
 */
export function keep(
  state: JobState,
  store: DetachedStore,
  notebook: string,
  record: DetachedRecord,
): void {
  kept.set(state, { store, notebook, record });
  markDetached(state);
}

/**
 * The backend of one detached job: a runtime on the detached cluster,
 * recorded in its store (again for each attempt).
 *
 * @param state The job's state.
 * @param job What to record of it.
 * @returns The backend.
 */
export function detachedBackend(state: JobState, job: DetachedJob): Backend {
  return {
    async acquire(request, first?: RunMessage): Promise<Runtime> {
      const { backend, store } = await detachedLink();
      const runtime = await backend.acquire(
        { ...request, detached: true },
        first,
      );
      const notebook = await notebookKey();
      const record: DetachedRecord = {
        ...job,
        rid: runtime.rid,
        runner: runtime.runner,
        startedAt: Date.now(),
        attempt: state.attempt,
      };
      try {
        await store.put(notebook, record);
      } catch (error) {
        await runtime.kill();
        throw error;
      }
      keep(state, store, notebook, record);
      return runtime;
    },
    hold: () => () => {},
    drain: async () => {},
  };
}

/**
 * Forgets a detached job in its cluster's store: its record and its events.
 *
 * @param state The job's state.
 * @returns Resolves once done (at once for a job that is not detached).
 */
export async function forgetDetached(state: JobState): Promise<void> {
  const where = kept.get(state);
  if (!where) return;
  kept.delete(state);
  await where.store.remove(where.notebook, where.record);
}
