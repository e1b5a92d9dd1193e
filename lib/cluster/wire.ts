/**
 * Messages in NATS payloads. A message is one frame (`protocol/frames.ts`:
 * V8-serialized, typed arrays as raw attachments); a frame bigger than the
 * server's `max_payload` travels as several NATS messages on one subject,
 * each with an 8-byte head (its index, their count), put back together in
 * order by {@linkcode Reassembler}.
 *
 * @module
 */
import {
  encodeFrameParts,
  frameBytes,
  readFrames,
} from "../protocol/frames.ts";
import { bytesReader, concat } from "../protocol/byte_streams.ts";
import type {
  KernelMessage,
  RemoteEvent,
  RunnerReply,
  RunnerRequest,
} from "../protocol/messages.ts";

const HEAD = 8;

/** Any message that crosses between a kernel and a runner. */
export type WireMessage =
  | KernelMessage
  | RemoteEvent
  | RunnerRequest
  | RunnerReply;

/**
 * Encodes a message as NATS payloads of at most `max` bytes each.
 *
 * @param message The message.
 * @param max The server's `max_payload`.
 * @returns The payloads, to publish in order on one subject.
 * @throws {RangeError} When the message cannot be serialized at this size.
 */
export function toPayloads(message: WireMessage, max: number): Uint8Array[] {
  const parts = [...frameBytes(encodeFrameParts(message))];
  const size = parts.reduce((n, p) => n + p.byteLength, 0);
  // Room for the head, and for headers a publish adds (a message id).
  const room = Math.max(1024, max - HEAD - 4096);
  const count = Math.max(1, Math.ceil(size / room));
  const out: Uint8Array[] = [];
  let part = 0;
  let offset = 0;
  for (let index = 0; index < count; index++) {
    const length = Math.min(room, size - index * room);
    const payload = new Uint8Array(HEAD + length);
    const view = new DataView(payload.buffer);
    view.setUint32(0, index);
    view.setUint32(4, count);
    let at = HEAD;
    while (at < payload.byteLength) {
      const source = parts[part];
      const n = Math.min(source.byteLength - offset, payload.byteLength - at);
      payload.set(source.subarray(offset, offset + n), at);
      at += n;
      offset += n;
      if (offset === source.byteLength) {
        part++;
        offset = 0;
      }
    }
    out.push(payload);
  }
  return out;
}

/**
 * Decodes one whole frame.
 *
 * @param bytes The frame.
 * @returns The message.
 * @throws {TypeError} When the bytes are not one readable message.
 */
export async function fromFrame<M extends WireMessage>(
  bytes: Uint8Array,
): Promise<M> {
  for await (const message of readFrames<KernelMessage>(bytesReader(bytes))) {
    if (message.t === ("unreadable" as string)) break;
    return message as unknown as M;
  }
  throw new TypeError("Not a bgjobs message: the bytes do not decode");
}

/** Puts payloads back together into messages, in the order they come. */
export class Reassembler {
  #parts: Uint8Array[] = [];

  /**
   * Takes the next payload of a subject.
   *
   * @param payload A payload made by {@linkcode toPayloads}.
   * @returns The whole frame once its last payload came, else `undefined`.
   * @throws {TypeError} On a payload out of order or too short.
   */
  add(payload: Uint8Array): Uint8Array | undefined {
    if (payload.byteLength < HEAD) {
      throw new TypeError("Not a bgjobs payload: too short");
    }
    const view = new DataView(
      payload.buffer,
      payload.byteOffset,
      payload.byteLength,
    );
    const index = view.getUint32(0);
    const count = view.getUint32(4);
    if (index !== this.#parts.length || index >= count) {
      this.#parts = [];
      throw new TypeError(`Not a bgjobs payload: part ${index} of ${count}`);
    }
    this.#parts.push(payload.subarray(HEAD));
    if (index + 1 < count) return undefined;
    const parts = this.#parts;
    this.#parts = [];
    return concat(parts);
  }
}

/**
 * A request or reply as one NATS payload (they are small).
 *
 * @param message The message.
 * @returns The payload.
 */
export function toPayload(message: WireMessage): Uint8Array {
  const [payload] = toPayloads(message, Number.MAX_SAFE_INTEGER);
  return payload;
}

/**
 * Reads a request or reply made by {@linkcode toPayload}.
 *
 * @param payload The payload.
 * @returns The message.
 * @throws {TypeError} When it is not one.
 */
export function fromPayload<M extends WireMessage>(
  payload: Uint8Array,
): Promise<M> {
  const whole = new Reassembler().add(payload);
  if (!whole) throw new TypeError("Not a bgjobs request: it comes in parts");
  return fromFrame<M>(whole);
}
