/**
 * A runner: the process on each machine of a cluster that takes jobs from
 * kernels and runs each in a job runtime of this machine, the same
 * permission-scoped, killable processes a kernel starts locally (same pool,
 * same kill, same memory cap, same no-orphans rule on this host). It says it
 * lives every second; it kills what a kernel started once that kernel has
 * gone silent; it refuses what is beyond its `--max-permissions`, and any
 * message it cannot read, and goes on.
 *
 * @module
 */
import { loadavg } from "node:os";
import { RuntimePool } from "../launch/pool.ts";
import type { RuntimeProcess } from "../launch/runtime_process.ts";
import {
  beyond,
  PERMISSION_NAMES,
  type ResolvedPermissions,
  resolvePermissions,
} from "../sandbox/permissions.ts";
import { runtimeEnv } from "../sandbox/runtime_env.ts";
import { specFor } from "../sandbox/runtime_spec.ts";
import type {
  KernelMessage,
  KillMessage,
  RemoteEvent,
  RunEnd,
  RunMessage,
  RunnerInfo,
  RunnerReply,
  RunnerRequest,
  StartMessage,
} from "../protocol/messages.ts";
import {
  type ClusterNames,
  type ClusterOptions,
  followConnection,
  HEARTBEAT_MS,
  openCluster,
  SILENCE_MS,
} from "../cluster/cluster_options.ts";
import { EventSender } from "../cluster/events.ts";
import { BulkServer, OFFER_MIN, rawOf } from "../cluster/bulk_offer.ts";
import { whenFilled } from "../os/fresh_read.ts";
import type { JetStream, KV, NatsConnection } from "../cluster/nats.ts";
import {
  fromFrame,
  fromPayload,
  Reassembler,
  toPayload,
} from "../cluster/wire.ts";

/** How a runner runs. */
export interface RunnerOptions {
  /** The cluster's server and credentials. */
  cluster: ClusterOptions;
  /**
   * How kernels and `jobs.runners` name it.
   *
   * @default {the host name}
   */
  name?: string;
  /**
   * Job runtimes at once; more wait.
   *
   * @default {the number of cores}
   */
  concurrency?: number;
  /**
   * The most a job may get.
   *
   * @default {everything}
   */
  maxPermissions?: ResolvedPermissions;
  /**
   * The TCP port big results are fetched from (see `cluster/bulk_offer.ts`);
   * `false`: none, big results go through the event stream.
   *
   * @default {0, any free port}
   */
  bulkPort?: number | false;
  /**
   * Where it says what it does (refusals, kills).
   *
   * @default {console.error}
   */
  log?: (line: string) => void;
}

interface Running {
  runtime: RuntimeProcess;
  kernel: string;
  label: string;
  started: boolean;
  /** Outlives its kernel: never killed for the kernel's silence. */
  detached: boolean;
  /** Why it was killed, when it was on purpose. */
  killed?: string;
  /** Settles once the job's end is sent (in the stream, for a detached job). */
  ended?: Promise<void>;
  stop(): void;
}

const RID = /^[0-9a-f-]{36}$/;

/** A runner, started. */
export class Runner implements AsyncDisposable {
  /** Unique per runner process. */
  readonly id: string = crypto.randomUUID();
  /** How kernels and `jobs.runners` name it. */
  readonly name: string;
  /** Job runtimes it runs at once. */
  readonly concurrency: number;
  /** The most a job may get here. */
  readonly maxPermissions: ResolvedPermissions;
  readonly #nc: NatsConnection;
  readonly #names: ClusterNames;
  readonly #runnerList: KV;
  readonly #kernelList: KV;
  readonly #pool = new RuntimePool();
  readonly #log: (line: string) => void;
  readonly #running = new Map<string, Running>();
  #slots: (() => void)[] = [];
  #busy = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  /** When a heartbeat was last stored. */
  #beaten = Date.now();
  readonly #link: ReturnType<typeof followConnection>;
  readonly #bulk: BulkServer | undefined;

  private constructor(
    nc: NatsConnection,
    names: ClusterNames,
    lists: [KV, KV],
    options: RunnerOptions,
  ) {
    this.#nc = nc;
    this.#names = names;
    [this.#runnerList, this.#kernelList] = lists;
    this.name = options.name ?? Deno.hostname();
    this.concurrency = options.concurrency ?? navigator.hardwareConcurrency;
    this.maxPermissions = options.maxPermissions ?? resolvePermissions(
      "inherit",
      () => true,
    );
    this.#log = options.log ?? ((line) => console.error(line));
    this.#link = followConnection(nc);
    this.#bulk = options.bulkPort === false
      ? undefined
      : BulkServer.listen(options.bulkPort ?? 0);
    // Jobs come to a runner back to back, from several kernels: two
    // runtimes kept warm (where it runs two at once), not one.
    this.#pool.setWarm(Math.min(2, this.concurrency));
  }

  /**
   * Connects to the cluster and starts taking jobs.
   *
   * @param options The cluster, name, concurrency and permission bound.
   * @returns The runner.
   * @throws {Error} When the server cannot be reached.
   */
  static async start(options: RunnerOptions): Promise<Runner> {
    const { nc, js, names, runnerList, kernelList } = await openCluster(
      options.cluster,
      "bgjobs runner",
    );
    const runner = new Runner(nc, names, [runnerList, kernelList], options);
    nc.subscribe(names.runner(runner.id), {
      callback: (_error, msg) => {
        runner.#request(msg.data, js).then(
          (reply) => msg.reply && msg.respond(toPayload(reply)),
          (error) => {
            runner.#log(
              `bgjobs runner: refused a message on ${msg.subject}: ${
                (error as Error).message
              }`,
            );
            if (msg.reply) {
              msg.respond(toPayload({
                t: "refused",
                error: `runner ${runner.name} could not read the request: ${
                  (error as Error).message
                }`,
              }));
            }
          },
        );
      },
    });
    await runner.#beat();
    runner.#timer = setInterval(() => runner.#beat(), HEARTBEAT_MS);
    return runner;
  }

  /** What it says about itself. */
  get info(): RunnerInfo {
    const max: Record<string, boolean | string[]> = {};
    for (const name of PERMISSION_NAMES) max[name] = this.maxPermissions[name];
    return {
      id: this.id,
      name: this.name,
      host: Deno.hostname(),
      cores: navigator.hardwareConcurrency,
      load: loadavg()[0],
      running: this.#running.size,
      concurrency: this.concurrency,
      maxPermissions: max,
      at: Date.now(),
    };
  }

  /** Job runtimes running now. */
  get running(): number {
    return this.#running.size;
  }

  async #beat(): Promise<void> {
    if (this.#closed) return;
    // Cut off from the server this long, kernels have failed our jobs. A cut
    // link is not always seen as a disconnect soon: a heartbeat not stored
    // for that long says the same.
    const down = Math.min(this.#link.downSince() ?? Infinity, this.#beaten);
    if (Date.now() - down > SILENCE_MS) {
      for (const [rid, r] of this.#running) {
        if (r.detached) continue; // its events wait to be published
        this.#log(
          `bgjobs runner: ${r.label}: cut off from the cluster for ${
            ((Date.now() - down) / 1000).toFixed(1)
          } s; killed`,
        );
        this.#kill(rid);
      }
      return;
    }
    try {
      await this.#runnerList.put(this.id, JSON.stringify(this.info));
      this.#beaten = Date.now();
      if (!this.#link.steady()) return; // kernels may not have beaten yet
      // Runtimes of a kernel that went silent: nobody waits for them.
      const kernels = new Set(
        [...this.#running.values()].filter((r) => !r.detached).map((r) =>
          r.kernel
        ),
      );
      for (const kernel of kernels) {
        const entry = await this.#kernelList.get(kernel);
        const at = entry?.operation === "PUT"
          ? Number(new TextDecoder().decode(entry.value))
          : 0;
        if (Date.now() - at < SILENCE_MS) continue;
        for (const [rid, r] of this.#running) {
          if (r.kernel !== kernel || r.detached) continue;
          this.#log(`bgjobs runner: ${r.label}: its kernel is gone; killed`);
          this.#kill(rid);
        }
      }
    } catch { /* server away: try again on the next beat */ }
  }

  async #request(data: Uint8Array, js: JetStream): Promise<RunnerReply> {
    const request = checkRequest(await fromPayload<RunnerRequest>(data));
    if (request.t === "kill") {
      const ended = this.#running.get(request.rid)?.ended;
      await this.#kill(request.rid, "a kernel asked");
      // Confirmed once the job's end is stored: a kernel that reads the job
      // next (an attach, after a restart too) must see it killed.
      await ended;
      return { t: "killed" };
    }
    return await this.#start(request, js);
  }

  async #start(start: StartMessage, js: JetStream): Promise<RunnerReply> {
    const wanted = start.permissions === "inherit"
      ? this.maxPermissions
      : resolvePermissions(start.permissions, () => true);
    const over = beyond(wanted, this.maxPermissions);
    if (over !== undefined) {
      return {
        t: "refused",
        error:
          `${start.label} asks for ${over}, beyond what runner ${this.name} (${Deno.hostname()}) allows (--max-permissions)`,
      };
    }
    if (this.#running.has(start.rid)) {
      return { t: "refused", error: `runtime ${start.rid} exists already` };
    }
    await this.#slot();
    let runtime: RuntimeProcess;
    try {
      const spec = specFor(
        wanted,
        start.memory,
        (warning) => this.#log(warning),
      );
      spec.env = { ...runtimeEnv({ ...wanted, env: false }), ...start.env };
      const standard = start.permissions === "inherit" &&
        start.memory === undefined && Object.keys(start.env).length === 0;
      runtime = await this.#pool.acquire(spec, standard, start.first);
    } catch (error) {
      this.#free();
      return {
        t: "refused",
        error: `runner ${this.name} could not start a runtime: ${
          (error as Error).message
        }`,
      };
    }
    const max = this.#nc.info?.max_payload ?? 1024 * 1024;
    const detached = start.detached === true;
    const sender = new EventSender(
      js,
      detached
        ? this.#names.detachedEvents(start.rid)
        : this.#names.events(start.rid),
      max,
    );
    const parts = new Reassembler();
    const running: Running = {
      runtime,
      kernel: start.kernel,
      label: start.label,
      started: false,
      detached,
      stop: () => sub.unsubscribe(),
    };
    const run = (message: RunMessage) => {
      running.started = true;
      running.ended = runtime.run(message, {
        onOutput: (text) => sender.send({ t: "output", text }),
        onMessage: (event) => sender.send(event),
      }).then(async (end) => {
        // A detached job's end stays in the stream, its result too (not on
        // the bulk port): a kernel may read it days later, from a runner
        // restarted meanwhile, and learn that it was killed.
        const why = detached && end.kind === "exit"
          ? running.killed
          : undefined;
        await sender.send(
          why
            ? { t: "end", end: { kind: "killed", why } }
            : await this.#ending(end, !detached),
        );
        // What was offered may still be coming from the runtime: until it
        // has, the job stays this runner's, and a kill reaches it.
        if (end.kind === "result") {
          await whenFilled(end.value?.raw ?? []).catch(() => {});
        }
      })
        .catch((error) => this.#log(`bgjobs runner: ${start.label}: ${error}`))
        .finally(() => this.#end(start.rid));
    };
    const sub = this.#nc.subscribe(this.#names.input(start.rid), {
      callback: (_error, msg) => {
        try {
          const whole = parts.add(msg.data);
          if (!whole) return;
          fromFrame<KernelMessage>(whole).then((message) => {
            if (message.t === "run" && !running.started) run(message);
            else runtime.send(message);
          }, (error) => this.#log(`bgjobs runner: ${start.label}: ${error}`));
        } catch (error) {
          this.#log(`bgjobs runner: ${start.label}: ${error}`);
        }
      },
    });
    this.#running.set(start.rid, running);
    if (start.first) run(start.first);
    return { t: "started" };
  }

  // A big result's buffers wait on the bulk port, not in the stream, and
  // are offered at once (sent on as they come, see `passOn`); what goes in
  // the stream is first read in full.
  async #ending(end: RunEnd, offer: boolean): Promise<RemoteEvent> {
    if (end.kind !== "result") return { t: "end", end };
    const { raw, bytes } = rawOf(end.value);
    if (offer && this.#bulk && bytes >= OFFER_MIN) {
      const bulk = this.#bulk.offer(raw);
      const value = { ...end.value!, raw: [] };
      return { t: "end", end: { kind: "result", value }, bulk };
    }
    try {
      await whenFilled(end.value?.raw ?? []);
    } catch {
      const message = "its result was cut off: its runtime stopped sending it";
      return {
        t: "end",
        end: { kind: "error", error: { name: "Error", message } },
      };
    }
    return { t: "end", end };
  }

  async #kill(rid: string, why?: string): Promise<void> {
    const running = this.#running.get(rid);
    if (!running) return;
    running.killed ??= why;
    await running.runtime.kill();
    this.#end(rid);
  }

  #end(rid: string): void {
    const running = this.#running.get(rid);
    if (!running) return;
    this.#running.delete(rid);
    running.stop();
    this.#free();
  }

  #slot(): Promise<void> {
    if (this.#busy < this.concurrency) {
      this.#busy++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#slots.push(resolve));
  }

  #free(): void {
    const next = this.#slots.shift();
    if (next) next();
    else this.#busy--;
  }

  /** Kills every runtime, leaves the cluster and closes the connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await Promise.all(
      [...this.#running.keys()].map((rid) =>
        this.#kill(rid, `its runner ${this.name} stopped`)
      ),
    );
    await this.#pool.drain();
    this.#bulk?.close();
    await this.#runnerList.delete(this.id).catch(() => {});
    await this.#nc.drain().catch(() => {});
  }

  /** Same as {@linkcode Runner.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Checks that a request from the wire is one a kernel sends.
 *
 * @param request What came.
 * @returns It, typed.
 * @throws {TypeError} Saying what is wrong.
 */
export function checkRequest(request: unknown): StartMessage | KillMessage {
  const r = request as Record<string, unknown>;
  const fail = (why: string): never => {
    throw new TypeError(`Not a bgjobs request: ${why}`);
  };
  if (typeof r !== "object" || r === null) fail("not an object");
  if (typeof r.rid !== "string" || !RID.test(r.rid)) fail("bad runtime id");
  if (r.t === "kill") return r as unknown as KillMessage;
  if (r.t !== "start") fail(`unknown kind ${JSON.stringify(r.t)}`);
  if (typeof r.kernel !== "string" || r.kernel.length > 100) fail("bad kernel");
  if (typeof r.label !== "string" || r.label.length > 1000) fail("bad label");
  const p = r.permissions;
  if (p !== "inherit") {
    if (typeof p !== "object" || p === null || Array.isArray(p)) {
      fail("bad permissions");
    }
    for (const [name, value] of Object.entries(p as object)) {
      const ok = (PERMISSION_NAMES as readonly string[]).includes(name) &&
        (typeof value === "boolean" ||
          (Array.isArray(value) && value.every((v) => typeof v === "string")));
      if (!ok) fail(`bad permission ${name}`);
    }
  }
  const env = r.env as Record<string, unknown>;
  if (
    typeof env !== "object" || env === null ||
    Object.values(env).some((v) => typeof v !== "string")
  ) fail("bad environment");
  if (r.detached !== undefined && typeof r.detached !== "boolean") {
    fail("bad detached flag");
  }
  if (
    r.memory !== undefined &&
    (typeof r.memory !== "number" || !(r.memory >= 16))
  ) fail("bad memory cap");
  const first = r.first as Record<string, unknown> | undefined;
  if (
    first !== undefined &&
    (first?.t !== "run" || typeof first.source !== "string" ||
      !["function", "expression", "module", "map"].includes(
        first.kind as string,
      ))
  ) fail("bad run message");
  return r as unknown as StartMessage;
}
