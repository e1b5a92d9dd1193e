/**
 * A job runtime on a runner of the cluster, as the kernel drives it: the
 * same {@linkcode Runtime} the engine drives on this machine. Messages to it
 * go to its input subject; its output, events and end come back through
 * the cluster's event stream; `kill()` asks its runner and resolves once
 * the runner says the runtime is gone.
 *
 * @module
 */
import type {
  BulkOffer,
  KernelMessage,
  RunEnd,
  RunHandlers,
  RunMessage,
  RunnerInfo,
  RunnerReply,
  RunnerRequest,
} from "../protocol/messages.ts";
import type { ClusterNames } from "./cluster_options.ts";
import { type CaughtUp, type KeptEvents, readEvents } from "./events.ts";
import { fetchOffer } from "./bulk_offer.ts";
import type { JetStream, NatsConnection } from "./nats.ts";
import { fromPayload, toPayload, toPayloads } from "./wire.ts";

/** What a remote runtime needs of the cluster it runs on. */
export interface ClusterLink {
  readonly nc: NatsConnection;
  readonly js: JetStream;
  readonly names: ClusterNames;
  /** Resolves with why, once the runner stops answering. */
  lost(runner: RunnerInfo): Promise<string>;
}

/** How long a runner may take to answer a kill, in ms. */
const KILL_TIMEOUT_MS = 10_000;

/**
 * Asks a runner something and reads its answer.
 *
 * @param link The cluster.
 * @param runner The runner.
 * @param request What to ask.
 * @param timeout ms to wait for the answer.
 * @returns The answer.
 * @throws {Error} When no answer came.
 */
export async function askRunner(
  link: ClusterLink,
  runner: RunnerInfo,
  request: RunnerRequest,
  timeout: number,
): Promise<RunnerReply> {
  const reply = await link.nc.request(
    link.names.runner(runner.id),
    toPayload(request),
    { timeout },
  );
  return await fromPayload<RunnerReply>(reply.data);
}

/** A runtime on a runner. */
export class RemoteRuntime {
  /** Where it runs: the runner's name and host. */
  readonly where: string;
  /** Its runner. */
  readonly runner: RunnerInfo;
  /** Its id: names its input and event subjects. */
  readonly rid: string;
  /** A detached runtime: its events are in the stream of detached events. */
  readonly detached: boolean;
  readonly #link: ClusterLink;
  readonly #first: RunMessage | undefined;
  #ended: RunEnd | undefined;
  #endedAt: number | undefined;
  #stopEvents: (() => void) | undefined;
  #killed = false;
  #release: (() => void) | undefined;

  /**
   * Follows a runtime a runner has started.
   *
   * @param link The cluster.
   * @param runner Its runner.
   * @param rid Its id.
   * @param first The run message it was started with, if any.
   * @param release Called once, when the runtime is done.
   * @param detached Whether it was started detached.
   */
  constructor(
    link: ClusterLink,
    runner: RunnerInfo,
    rid: string,
    first: RunMessage | undefined,
    release: () => void,
    detached = false,
  ) {
    this.#release = release;
    this.#link = link;
    this.runner = runner;
    this.rid = rid;
    this.detached = detached;
    this.#first = first;
    this.where = `${runner.name}@${runner.host}`;
  }

  /**
   * Sends a message (split over several NATS messages when big).
   *
   * @param message The message.
   * @returns Resolves once it is handed to the connection.
   */
  send(message: KernelMessage): Promise<void> {
    try {
      const max = this.#link.nc.info?.max_payload ?? 1024 * 1024;
      const subject = this.#link.names.input(this.rid);
      for (const payload of toPayloads(message, max)) {
        this.#link.nc.publish(subject, payload);
      }
    } catch { /* the connection is closed: the run reports how it ended */ }
    return Promise.resolve();
  }

  /**
   * Runs the job (sending `message` unless the runtime was started with it),
   * streams its events to `handlers`, and resolves with how it ended: its
   * end, or, when its runner stops answering, why.
   *
   * @param message The run message.
   * @param handlers Where output and events go.
   * @returns How the run ended.
   */
  async run(message: RunMessage, handlers: RunHandlers): Promise<RunEnd> {
    // Sent before anything is awaited: what the caller sends next (a map's
    // items) must come after it. Events wait in the stream meanwhile.
    if (message !== this.#first) this.send(message);
    return await this.follow(handlers);
  }

  /**
   * Streams the runtime's events to `handlers` from the first one (all
   * that are kept, then what comes), and resolves with how it ended: what
   * {@linkcode RemoteRuntime.run} does after sending the job, and what a
   * kernel does for a detached job started by another kernel.
   *
   * @param handlers Where output and events go.
   * @param caughtUp Says when the events kept so far are delivered.
   * @param kept Its events read already: the stream is read after them.
   * @returns How the run ended.
   */
  async follow(
    handlers: RunHandlers,
    caughtUp?: CaughtUp,
    kept?: KeptEvents,
  ): Promise<RunEnd> {
    const names = this.#link.names;
    const { events, stop, storedAt, live } = await readEvents(
      this.#link.js,
      this.detached ? names.detachedStream : names.stream,
      this.detached ? names.detachedEvents(this.rid) : names.events(this.rid),
      caughtUp,
      kept,
    );
    this.#stopEvents = stop;
    // Watched only while it may still run: an end already read needs none.
    const lost = live.then(() => this.#link.lost(this.runner)).then((why) => {
      stop();
      return why;
    });
    let why: string | undefined;
    lost.then((w) => why = w);
    try {
      for await (const event of events) {
        if (event.t === "end") {
          this.#endedAt = storedAt();
          this.#ended = await fetched(event.end, event.bulk);
          break;
        }
        if (event.t === "output") handlers.onOutput(event.text);
        else handlers.onMessage(event);
      }
    } catch (error) {
      why ??= `its events could not be read: ${(error as Error).message}`;
    } finally {
      stop();
      this.#done();
    }
    if (this.#ended) return this.#ended;
    // Stopped by the runner's silence: a moment for `lost` to say why. A
    // kill() needs none (its confirmation came: no waiting on a kill).
    if (!this.#killed) {
      await Promise.race([lost, new Promise((r) => setTimeout(r, 100))]);
    }
    return why && !this.#killed
      ? { kind: "lost", why }
      : { kind: "exit", code: 137, signal: "SIGKILL" };
  }

  /** When its end was stored in the cluster, once read (ms since the epoch). */
  get endedAt(): number | undefined {
    return this.#endedAt;
  }

  /**
   * Kills the runtime and everything it started, on its runner.
   *
   * @returns Resolves once the runner says it is gone (or cannot be asked).
   */
  async kill(): Promise<void> {
    this.#killed = true;
    if (this.#ended) return;
    try {
      await askRunner(
        this.#link,
        this.runner,
        { t: "kill", rid: this.rid },
        KILL_TIMEOUT_MS,
      );
    } catch { /* runner gone: nothing of it runs for us */ }
    this.#stopEvents?.();
    this.#done();
  }

  #done(): void {
    this.#release?.();
    this.#release = undefined;
  }
}

// A result whose buffers wait on the runner's bulk port, with them.
async function fetched(
  end: RunEnd,
  bulk: BulkOffer | undefined,
): Promise<RunEnd> {
  if (!bulk || end.kind !== "result" || !end.value) return end;
  try {
    return {
      kind: "result",
      value: { ...end.value, raw: await fetchOffer(bulk) },
    };
  } catch (error) {
    return {
      kind: "error",
      error: { name: "Error", message: (error as Error).message },
    };
  }
}
