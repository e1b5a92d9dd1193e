/**
 * The kernel's side of a cluster: the backend `on: "cluster"` jobs run on.
 * It keeps the list of runners fresh (each says it lives every second, in a
 * KV bucket whose entries expire), says this kernel lives (so runners kill
 * what it started once it is gone), starts runtimes on the runner with the
 * most room that allows what the job asks for, and notices a runner that
 * stopped answering.
 *
 * @module
 */
import type { RunMessage, RunnerInfo } from "../protocol/messages.ts";
import {
  beyond,
  PERMISSION_NAMES,
  type ResolvedPermissions,
} from "../sandbox/permissions.ts";
import {
  type ClusterNames,
  type ClusterOptions,
  followConnection,
  HEARTBEAT_MS,
  type OpenCluster,
  openCluster,
  SILENCE_MS,
} from "./cluster_options.ts";
import type { JetStream, KV, NatsConnection } from "./nats.ts";
import { within } from "./within.ts";
import {
  askRunner,
  type ClusterLink,
  RemoteRuntime,
} from "./remote_runtime.ts";

/** What a backend gets asked for a runtime (see `engine/backend.ts`). */
export interface ClusterRequest {
  permissions: ResolvedPermissions | "inherit";
  memory?: number;
  label: string;
  /** Outlives the kernel (see `StartMessage.detached`). */
  detached?: boolean;
}

/** How long a runner may take to start a runtime, in ms. */
const START_TIMEOUT_MS = 30_000;

/** The kernel's connection to a cluster. */
export class ClusterBackend implements ClusterLink {
  readonly nc: NatsConnection;
  readonly js: JetStream;
  readonly names: ClusterNames;
  /** This kernel's id in the cluster. */
  readonly kernel: string = crypto.randomUUID();
  readonly #runnerList: KV;
  readonly #runnerIds: () => Promise<string[]>;
  readonly #kernelList: KV;
  #runners = new Map<string, RunnerInfo>();
  #assigned = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #link: ReturnType<typeof followConnection>;
  #refreshed: Promise<void> | undefined;

  private constructor(open: OpenCluster) {
    this.nc = open.nc;
    this.js = open.js;
    this.names = open.names;
    this.#runnerList = open.runnerList;
    this.#runnerIds = open.runnerIds;
    this.#kernelList = open.kernelList;
    this.#link = followConnection(open.nc);
  }

  /**
   * Connects to a cluster and starts following its runners.
   *
   * @param options Where and how.
   * @returns The backend.
   * @throws {Error} When the server cannot be reached.
   */
  static async connect(options: ClusterOptions): Promise<ClusterBackend> {
    const backend = new ClusterBackend(
      await openCluster(options, "bgjobs kernel"),
    );
    await backend.#tick();
    const timer = setInterval(() => backend.#tick(), HEARTBEAT_MS / 2);
    Deno.unrefTimer(timer);
    backend.#timer = timer;
    return backend;
  }

  // Says this kernel lives, and reads the runners (a round trip each).
  #tick(): Promise<void> {
    this.#refreshed ??= (async () => {
      try {
        await this.#kernelList.put(this.kernel, String(Date.now()));
        const seen = new Map<string, RunnerInfo>();
        for (const key of await this.#runnerIds()) {
          const entry = await this.#runnerList.get(key);
          if (entry?.operation !== "PUT") continue;
          const info = entry.json<RunnerInfo>();
          if (Date.now() - info.at < SILENCE_MS) seen.set(info.id, info);
        }
        this.#runners = seen;
      } catch { /* server away: the list stays as it was, and ages */ }
    })().finally(() => this.#refreshed = undefined);
    return this.#refreshed;
  }

  /**
   * Waits until a runner is known.
   *
   * @param ms How long at most.
   * @throws {Error} When none came in time.
   */
  async waitForRunners(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (this.#runners.size === 0) {
      if (Date.now() > end) {
        throw new Error(
          `No runner of cluster "${this.names.cluster}" came within ${
            ms / 1000
          } s`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
      await this.#tick();
    }
  }

  /** The runners heard from lately. */
  get runners(): RunnerInfo[] {
    return [...this.#runners.values()];
  }

  /**
   * Refuses what no runner allows.
   *
   * @param permissions What a job asks for.
   * @throws {TypeError} Naming the permission and the runners, when every
   * runner known refuses it.
   */
  admit(permissions: ResolvedPermissions | "inherit"): void {
    if (permissions === "inherit" || this.#runners.size === 0) return;
    const refusals = this.runners.map((r) => ({
      runner: r,
      over: beyond(permissions, resolved(r.maxPermissions)),
    }));
    if (refusals.some((r) => r.over === undefined)) return;
    const [first] = refusals;
    throw new TypeError(
      `Cannot run a job asking for ${first.over} on the cluster: runner ${first.runner.name} (${first.runner.host}) allows at most ${
        describe(first.runner.maxPermissions)
      }${
        refusals.length > 1 ? `, and no other runner allows it` : ""
      }; ask for less, or start a runner with --max-permissions that allow it`,
    );
  }

  /**
   * Starts a runtime on the runner with the most room that allows the job.
   *
   * @param request The job's permissions, memory cap and label.
   * @param first The run message, sent with the start.
   * @returns The remote runtime.
   * @throws {Error} When no runner is there, or the runner refused.
   */
  async acquire(
    request: ClusterRequest,
    first?: RunMessage,
  ): Promise<RemoteRuntime> {
    // A runner that does not answer (gone since its last word) is dropped,
    // and the next one asked.
    for (let tries = 0;; tries++) {
      try {
        return await this.#acquireOnce(request, first);
      } catch (error) {
        const gone = (error as { runner?: RunnerInfo }).runner;
        if (!gone || tries >= 3) throw error;
        this.#runners.delete(gone.id);
      }
    }
  }

  async #acquireOnce(
    request: ClusterRequest,
    first?: RunMessage,
  ): Promise<RemoteRuntime> {
    let runner = this.#pick(request.permissions);
    for (let i = 0; !runner && i < 20; i++) {
      await new Promise((r) => setTimeout(r, 250));
      await this.#tick();
      runner = this.#pick(request.permissions);
    }
    if (!runner) {
      this.admit(request.permissions);
      throw new Error(
        `No runner of cluster "${this.names.cluster}" answers: start one with deno run -A jsr:@x/bgjobs/runner --server …`,
      );
    }
    const rid = crypto.randomUUID();
    const id = runner.id;
    this.#count(id, +1);
    let reply;
    try {
      reply = await askRunner(this, runner, {
        t: "start",
        rid,
        kernel: this.kernel,
        label: request.label,
        permissions: request.permissions,
        env: envGranted(request.permissions),
        memory: request.memory,
        first,
        ...(request.detached && { detached: true }),
      }, START_TIMEOUT_MS);
    } catch (error) {
      this.#count(id, -1);
      throw Object.assign(
        new Error(
          `runner ${runner.name} (${runner.host}) did not answer: ${
            (error as Error).message
          }`,
          { cause: error },
        ),
        { runner },
      );
    }
    if (reply.t !== "started") {
      this.#count(id, -1);
      throw new Error(
        reply.t === "refused"
          ? reply.error
          : `runner ${runner.name} answered ${reply.t}`,
      );
    }
    return new RemoteRuntime(
      this,
      runner,
      rid,
      first,
      () => this.#count(id, -1),
      request.detached,
    );
  }

  /**
   * Follows a detached runtime started earlier, maybe by another kernel.
   *
   * @param runner Its runner, as it was then.
   * @param rid Its id.
   * @returns The runtime: `follow()` reads its events, `kill()` asks its
   * runner.
   */
  reattach(runner: RunnerInfo, rid: string): RemoteRuntime {
    return new RemoteRuntime(this, runner, rid, undefined, () => {}, true);
  }

  #count(runner: string, by: number): void {
    this.#assigned.set(runner, (this.#assigned.get(runner) ?? 0) + by);
  }

  #pick(permissions: ResolvedPermissions | "inherit"): RunnerInfo | undefined {
    let best: RunnerInfo | undefined;
    let room = -Infinity;
    for (const r of this.#runners.values()) {
      if (
        permissions !== "inherit" &&
        beyond(permissions, resolved(r.maxPermissions)) !== undefined
      ) continue;
      const free = (r.concurrency - (this.#assigned.get(r.id) ?? 0)) /
        r.concurrency;
      if (free > room) [best, room] = [r, free];
    }
    return best;
  }

  /**
   * Resolves with why, once `runner` has not been heard from for
   * {@linkcode SILENCE_MS} (it died, its host or link is gone).
   *
   * @param runner The runner.
   * @returns Why it is taken for gone.
   */
  lost(runner: RunnerInfo): Promise<string> {
    return new Promise((resolve) => {
      let last = Date.now();
      let suspect = false;
      const id = setInterval(() => {
        const now = this.#runners.get(runner.id);
        if (now) last = Math.max(last, now.at);
        // Cut off ourselves, or just back, we hear nobody yet: that says
        // nothing of the runner.
        if (!this.#link.steady()) {
          last = Math.max(last, Date.now() - SILENCE_MS / 2);
        }
        const silent = Date.now() - last;
        // Taken for gone on the second check in a row: after a long stall
        // of this process, the first check can come before the heartbeats
        // that waited meanwhile are read.
        if (silent <= SILENCE_MS) suspect = false;
        else if (!suspect) suspect = true;
        else {
          clearInterval(id);
          resolve(
            `its runner ${runner.name} (${runner.host}) stopped answering: nothing heard from it for ${
              (silent / 1000).toFixed(1)
            } s`,
          );
        }
      }, HEARTBEAT_MS / 2);
      Deno.unrefTimer(id);
    });
  }

  /**
   * Stops following the cluster and closes the connection: drained when
   * that takes at most {@linkcode CLOSE_MS} per step, else closed at once
   * (a `jobs.shutdown()` never hangs on a server that does not answer, or on
   * a subscription a drain waits for).
   */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    if (this.#refreshed) await within(this.#refreshed, CLOSE_MS);
    await within(this.#kernelList.delete(this.kernel), CLOSE_MS);
    if (!await within(this.nc.drain(), CLOSE_MS)) {
      await within(this.nc.close(), CLOSE_MS);
    }
  }
}

/** How long each step of closing a cluster connection may take, in ms. */
const CLOSE_MS = 2000;

function resolved(
  max: Record<string, boolean | string[]>,
): ResolvedPermissions {
  const out = {} as ResolvedPermissions;
  for (const name of PERMISSION_NAMES) out[name] = max[name] ?? false;
  return out;
}

function describe(max: Record<string, boolean | string[]>): string {
  const granted = PERMISSION_NAMES.filter((n) => max[n]);
  if (granted.length === 0) return "nothing";
  return granted.map((n) =>
    max[n] === true ? n : `${n}=${(max[n] as string[]).join(":")}`
  ).join(",");
}

// The environment a job is granted travels from the kernel, as locally.
function envGranted(
  permissions: ResolvedPermissions | "inherit",
): Record<string, string> {
  if (permissions === "inherit") return {};
  if (permissions.env === true) return Deno.env.toObject();
  const env: Record<string, string> = {};
  for (const name of Array.isArray(permissions.env) ? permissions.env : []) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}
