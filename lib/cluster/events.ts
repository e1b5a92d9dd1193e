/**
 * A remote runtime's events, through JetStream: the runner publishes them
 * (each acknowledged, in order, retried while the server is away), the
 * kernel reads them with an ordered consumer, which picks up where it was
 * after a server restart. Kept in the cluster's stream, nothing is lost
 * when the kernel, the runner or the server reconnects.
 *
 * @module
 */
import {
  type Consumer,
  type ConsumerMessages,
  type JetStream,
  readPending,
} from "./nats.ts";
import type { RemoteEvent } from "../protocol/messages.ts";
import { fromFrame, Reassembler, toPayloads } from "./wire.ts";

/** How long a runner keeps trying to publish an event, in ms. */
export const PUBLISH_PATIENCE_MS = 120_000;

/** Publishes one runtime's events in order. */
export class EventSender {
  #js: JetStream;
  #subject: string;
  #max: number;
  #chain: Promise<void> = Promise.resolve();
  #sent = 0;

  /**
   * @param js JetStream.
   * @param subject The runtime's event subject.
   * @param max The server's `max_payload`.
   */
  constructor(js: JetStream, subject: string, max: number) {
    this.#js = js;
    this.#subject = subject;
    this.#max = max;
  }

  /**
   * Queues an event; events go out in the order they were queued.
   *
   * @param event The event.
   * @returns Resolves once it is stored (or given up on).
   */
  send(event: RemoteEvent): Promise<void> {
    let payloads: Uint8Array[];
    try {
      payloads = toPayloads(event, this.#max);
    } catch (error) {
      if (event.t !== "end") throw error;
      payloads = toPayloads({
        t: "end",
        end: {
          kind: "error",
          error: {
            name: "Error",
            message: `The job's end could not be sent: ${
              (error as Error).message
            }`,
          },
        },
      }, this.#max);
    }
    this.#chain = this.#chain.then(async () => {
      for (const payload of payloads) await this.#publish(payload);
    });
    return this.#chain;
  }

  async #publish(payload: Uint8Array): Promise<void> {
    // The id makes a publish retried after a lost acknowledgement a no-op.
    const msgID = `${this.#subject}#${this.#sent++}`;
    const giveUp = Date.now() + PUBLISH_PATIENCE_MS;
    for (let wait = 50;; wait = Math.min(wait * 2, 1000)) {
      try {
        await this.#js.publish(this.#subject, payload, {
          msgID,
          timeout: 5000,
        });
        return;
      } catch (error) {
        if (Date.now() > giveUp) {
          console.error(`bgjobs runner: lost an event: ${error}`);
          return;
        }
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** Resolves once every event queued so far is stored. */
  flushed(): Promise<void> {
    return this.#chain;
  }
}

/** A runtime's events as read, and how to stop reading. */
export interface EventReader {
  /** The events, in order. */
  events: AsyncIterable<RemoteEvent>;
  /** Stops reading. */
  stop(): void;
  /** When the last event read was stored (ms since the epoch). */
  storedAt(): number | undefined;
  /** Resolves once it reads what comes, past the kept events it was given. */
  live: Promise<void>;
}

/** Says when a reader has read what was kept when it started. */
export interface CaughtUp {
  /** The stream sequence of the last event kept then (0: none). */
  seq: number;
  /** Called once, when it is read. */
  then(): void;
}

/** One message of a runtime's events, as kept in the stream. */
export interface KeptMessage {
  /** An event's frame, or a part of one. */
  data: Uint8Array;
  /** When it was stored (ms since the epoch). */
  storedAt: number;
}

/** A runtime's events read already, and up to where. */
export interface KeptEvents {
  /** Its messages, in order. */
  messages: KeptMessage[];
  /** The stream sequence read up to: later ones are read live. */
  seq: number;
}

/**
 * Reads a runtime's events from the start of its subject, in order.
 *
 * @param js JetStream.
 * @param stream The cluster's stream.
 * @param subject The runtime's event subject.
 * @param caughtUp `then()` is called once the events kept up to stream
 * sequence `seq` (0: none) are read.
 * @param kept Its events read already (see {@linkcode readKept}): they come
 * first, and the stream is read only after them, and only when asked for
 * more (a finished job's end is among them).
 * @returns The events, and `stop()` to stop reading.
 */
export async function readEvents(
  js: JetStream,
  stream: string,
  subject: string,
  caughtUp?: CaughtUp,
  kept?: KeptEvents,
): Promise<EventReader> {
  const open = (): Promise<Consumer> =>
    js.consumers.get(stream, {
      filter_subjects: subject,
      opt_start_seq: kept ? kept.seq + 1 : undefined,
    });
  const consumer = kept ? undefined : await open();
  if (caughtUp && !kept && caughtUp.seq === 0) caughtUp.then();
  const live = Promise.withResolvers<void>();
  let messages: ConsumerMessages | undefined;
  let stopped = false;
  const parts = new Reassembler();
  let storedAt: number | undefined;
  async function* events(): AsyncGenerator<RemoteEvent> {
    for (const msg of kept?.messages ?? []) {
      const whole = parts.add(msg.data);
      storedAt = msg.storedAt;
      if (whole) yield await fromFrame<RemoteEvent>(whole);
    }
    if (kept) caughtUp?.then();
    if (stopped) return;
    // Short pulls: after a server restart the consumer notices the missing
    // heartbeats and is made again within seconds, not half a minute.
    messages = await (consumer ?? await open()).consume({ expires: 2000 });
    if (stopped) {
      messages.stop();
      return;
    }
    live.resolve();
    let behind = !kept && caughtUp !== undefined && caughtUp.seq > 0;
    for await (const msg of messages) {
      const whole = parts.add(msg.data);
      storedAt = Math.round(msg.info.timestampNanos / 1e6);
      if (whole) yield await fromFrame<RemoteEvent>(whole);
      if (behind && (msg.seq >= caughtUp!.seq || msg.info.pending === 0)) {
        behind = false;
        caughtUp!.then();
      }
    }
  }
  return {
    events: events(),
    stop: () => {
      stopped = true;
      messages?.stop();
    },
    storedAt: () => storedAt,
    live: live.promise,
  };
}

/** Several runtimes' events read together, and up to where. */
export interface KeptSubjects {
  /** The messages read, by subject, each subject's in order. */
  messages: Map<string, KeptMessage[]>;
  /** The last stream sequence read (or `after`, when none was). */
  seq: number;
  /** How many messages of each subject were read, up to `after`. */
  counts: Map<string, number>;
}

/**
 * Reads the events kept in a stream for some subjects, in one pass: one
 * ordered consumer over a wildcard, where a consumer per subject costs a
 * few requests each, which adds up to most of attaching a thousand jobs.
 *
 * @param js JetStream.
 * @param stream The stream.
 * @param filter A wildcard covering `subjects`.
 * @param subjects The subjects to keep the messages of.
 * @param since Where to start: messages stored earlier are not read.
 * @param after The stream's last sequence, as known before this call:
 * `counts` stop there, for the caller to compare with what it knows was
 * kept then.
 * @returns What was read.
 */
export async function readKept(
  js: JetStream,
  stream: string,
  filter: string,
  subjects: Set<string>,
  since: Date,
  after: number,
): Promise<KeptSubjects> {
  const consumer = await js.consumers.getPushConsumer(stream, {
    filter_subjects: filter,
    opt_start_time: since.toISOString(),
  });
  const out: KeptSubjects = {
    messages: new Map(),
    seq: after,
    counts: new Map(),
  };
  await readPending(consumer, (msg) => {
    out.seq = msg.seq;
    if (!subjects.has(msg.subject)) return;
    let list = out.messages.get(msg.subject);
    if (!list) out.messages.set(msg.subject, list = []);
    list.push({
      data: msg.data,
      storedAt: Math.round(msg.info.timestampNanos / 1e6),
    });
    if (msg.seq <= after) {
      out.counts.set(msg.subject, (out.counts.get(msg.subject) ?? 0) + 1);
    }
  });
  return out;
}
