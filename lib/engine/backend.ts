/**
 * The seam between the engine and where jobs run. The engine drives every
 * job through a {@linkcode Backend}: it takes a {@linkcode Runtime} for the
 * job, sends it the job, streams its events and its end, and kills it. Job
 * runtimes on this machine (`launch/`) are one backend; a cluster of runners
 * on other machines plugs in as another, with nothing above the engine
 * changing.
 *
 * @module
 */
import { RuntimePool } from "../launch/pool.ts";
// For a notebook's kernel (`kernel_ext/register.ts`): results made ready for.
export { prepareAhead } from "../launch/bulk_socket.ts";
import type {
  KernelMessage,
  RunEnd,
  RunHandlers,
  RunMessage,
  RunnerInfo,
} from "../protocol/messages.ts";
import type { ResolvedPermissions } from "../sandbox/permissions.ts";
import { type RuntimeSpec, specFor } from "../sandbox/runtime_spec.ts";
import { ClusterBackend } from "../cluster/cluster_backend.ts";
import type { ClusterOptions } from "../cluster/cluster_options.ts";
import { LocalCluster } from "../cluster/local_cluster.ts";

/** One job runtime, wherever it runs, ready to run one job. */
export interface Runtime {
  /** Where it runs: `"local"`, or a runner's name and host. */
  readonly where: string;
  /** Sends a message; messages arrive whole and in order. */
  send(message: KernelMessage): Promise<void>;
  /**
   * Runs a job: sends `message`, streams output and events to `handlers`,
   * and resolves with how the run ended, once the runtime is gone.
   */
  run(message: RunMessage, handlers: RunHandlers): Promise<RunEnd>;
  /** Kills the runtime and everything it started; resolves once gone. */
  kill(): Promise<void>;
}

/** What a job needs of its runtimes. */
export interface RuntimeRequest {
  /**
   * What the job may do; `"inherit"` (on a cluster only): what the runner
   * allows.
   */
  permissions: ResolvedPermissions | "inherit";
  /** Heap cap in MB. */
  memory?: number;
  /** The default permissions and memory: a warm runtime fits. */
  standard: boolean;
  /** How messages name the job, e.g. `Job 3 (crawl(urls))`. */
  label: string;
  /** Tells the job something it should know (shown on its panel). */
  warn(warning: string): void;
}

/** Where jobs run. */
export interface Backend {
  /**
   * A runtime for a job. `first`: the run message, which a runtime started
   * for it may get as it starts.
   */
  acquire(request: RuntimeRequest, first?: RunMessage): Promise<Runtime>;
  /**
   * Refuses, at `job()`, what no runtime of this backend could give.
   *
   * @throws {TypeError} Naming what and where.
   */
  admit?(permissions: RuntimeRequest["permissions"]): void;
  /**
   * Holds background starts while a map's `lanes` work; the returned
   * function releases the hold.
   */
  hold(lanes: number): () => void;
  /** Kills every idle runtime. */
  drain(): Promise<void>;
}

const local = new RuntimePool();
// A job's spec, made once for all its runtimes (a map's lanes): making it
// scans path grants for symlinks.
const specs = new WeakMap<RuntimeRequest, RuntimeSpec>();

const localBackend: Backend = {
  acquire(request, first): Promise<Runtime> {
    let spec = specs.get(request);
    if (!spec) {
      if (request.permissions === "inherit") {
        throw new TypeError("A local job's permissions are resolved first");
      }
      spec = specFor(request.permissions, request.memory, request.warn);
      specs.set(request, spec);
    }
    return local.acquire(spec, request.standard, first);
  },
  hold: (lanes) => local.hold(lanes),
  drain: () => local.drain(),
};

/** The local backend's pool: job runtimes on this machine, kept warm. */
export function localPool(): RuntimePool {
  return local;
}

/** Where a job runs: this machine, or the configured cluster. */
export type JobPlace = "local" | "cluster";

interface ClusterUse {
  ready: Promise<ClusterBackend>;
  connected?: ClusterBackend;
  local?: LocalCluster;
}

let use: ClusterUse | undefined;

const cluster: Backend = {
  async acquire(request, first): Promise<Runtime> {
    return await (await use!.ready).acquire(request, first);
  },
  admit(permissions): void {
    use?.connected?.admit(permissions);
  },
  hold: () => () => {},
  drain: async () => {},
};

/**
 * Connects `on: "cluster"` jobs to a cluster (closing the one before), or
 * with `undefined` to none.
 *
 * @param setting A cluster's options, or `"local"` to start one here.
 * @returns Resolves once connected and a runner is known (for "local").
 * @throws {Error} When the cluster cannot be reached or started.
 */
export async function useCluster(
  setting: ClusterOptions | "local" | undefined,
): Promise<void> {
  await closeCluster();
  if (setting === undefined) return;
  const next = {} as ClusterUse;
  next.ready = (async () => {
    let options = setting as ClusterOptions;
    if (setting === "local") {
      next.local = await LocalCluster.start();
      options = next.local.options;
    }
    const connected = await ClusterBackend.connect(options);
    next.connected = connected;
    if (next.local) await connected.waitForRunners(30_000);
    return connected;
  })();
  next.ready.catch(() => {});
  use = next;
  await next.ready;
}

/**
 * The configured cluster, once connected.
 *
 * @returns It, or `undefined` when none is configured.
 * @throws {Error} When it could not be reached.
 */
export async function configuredCluster(): Promise<
  ClusterBackend | undefined
> {
  return use ? await use.ready : undefined;
}

/** Whether a cluster is configured. */
export function configuredClusterSet(): boolean {
  return use !== undefined;
}

/** The cluster's runners heard from lately (none without a cluster). */
export function clusterRunners(): RunnerInfo[] {
  return use?.connected?.runners ?? [];
}

/** Closes the cluster connection, and stops a local cluster. */
export async function closeCluster(): Promise<void> {
  const closing = use;
  use = undefined;
  if (!closing) return;
  await (await closing.ready.catch(() => undefined))?.close();
  await closing.local?.close();
}

/**
 * The backend jobs run on.
 *
 * @param on Where.
 * @returns The backend.
 * @throws {TypeError} For `"cluster"` when no cluster is configured.
 */
export function backend(on: JobPlace = "local"): Backend {
  if (on === "local") return localBackend;
  if (!use) {
    throw new TypeError(
      'Cannot run a job on: "cluster": no cluster is configured; call jobs.configure({ cluster: "nats://host:4222" }) or { cluster: "local" } first',
    );
  }
  return cluster;
}
