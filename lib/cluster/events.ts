/**
 * A remote runtime's events, through JetStream: the runner publishes them
 * (each acknowledged, in order, retried while the server is away), the
 * kernel reads them with an ordered consumer, which picks up where it was
 * after a server restart. Kept in the cluster's stream, nothing is lost
 * when the kernel, the runner or the server reconnects.
 *
 * @module
 */
import type { JetStream } from "./nats.ts";
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
}

/** Says when a reader has read what was kept when it started. */
export interface CaughtUp {
  /** The stream sequence of the last event kept then (0: none). */
  seq: number;
  /** Called once, when it is read. */
  then(): void;
}

/**
 * Reads a runtime's events from the start of its subject, in order.
 *
 * @param js JetStream.
 * @param stream The cluster's stream.
 * @param subject The runtime's event subject.
 * @param caughtUp `then()` is called once the events kept up to stream
 * sequence `seq` (0: none) are read.
 * @returns The events, and `stop()` to stop reading.
 */
export async function readEvents(
  js: JetStream,
  stream: string,
  subject: string,
  caughtUp?: CaughtUp,
): Promise<EventReader> {
  const consumer = await js.consumers.get(stream, { filter_subjects: subject });
  if (caughtUp && caughtUp.seq === 0) caughtUp.then();
  // Short pulls: after a server restart the consumer notices the missing
  // heartbeats and is made again within seconds, not half a minute.
  const messages = await consumer.consume({ expires: 2000 });
  const parts = new Reassembler();
  let storedAt: number | undefined;
  async function* events(): AsyncGenerator<RemoteEvent> {
    let behind = caughtUp !== undefined && caughtUp.seq > 0;
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
    stop: () => messages.stop(),
    storedAt: () => storedAt,
  };
}
