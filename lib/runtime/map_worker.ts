// The job runtime's side of `jobs.map`: the function arrives once, then
// chunks of items; each chunk's results go back in one message. Items of a
// chunk whose function returns a promise run concurrently.
import { decodePacket } from "../codec/decode_packet.ts";
import type { ItemsMessage, RuntimeMessage } from "../protocol/messages.ts";
import { toRemoteError } from "./remote_error.ts";
import { encodeOutgoing } from "./scope.ts";

type MapFn = (item: unknown, index: number) => unknown;

let mapFn: MapFn | undefined;

/** Sets the function of this runtime's map. */
export function startMap(fn: unknown): void {
  if (typeof fn !== "function") {
    throw new TypeError("Cannot map with a value that is not a function");
  }
  mapFn = fn as MapFn;
}

class ItemFailure {
  constructor(readonly index: number, readonly error: unknown) {}
}

/** Runs one chunk of items and sends its results (or the first failure). */
export async function runItems(
  message: ItemsMessage,
  send: (message: RuntimeMessage) => void,
): Promise<void> {
  const { start } = message;
  const items = decodePacket(message.value, { mode: "global" })
    .value as unknown[];
  const out = new Array(items.length);
  let pending: Promise<void>[] | undefined;
  try {
    for (let k = 0; k < items.length; k++) {
      let value: unknown;
      try {
        value = mapFn!(items[k], start + k);
      } catch (error) {
        throw new ItemFailure(start + k, error);
      }
      if (typeof (value as PromiseLike<unknown>)?.then === "function") {
        (pending ??= []).push(
          Promise.resolve(value).then(
            (v) => void (out[k] = v),
            (error) => Promise.reject(new ItemFailure(start + k, error)),
          ),
        );
      } else out[k] = value;
    }
    if (pending) await Promise.all(pending);
  } catch (failure) {
    const { index, error } = failure as ItemFailure;
    return send({ t: "item-error", index, error: toRemoteError(error) });
  }
  send({ t: "items-done", start, value: await encodeOutgoing(out, "result") });
}
