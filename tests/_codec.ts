// The codec's round trip without a job: encode, frame, read back, decode.
import { decodePacket } from "../lib/codec/decode_packet.ts";
import { encodeValue } from "../lib/codec/encode.ts";
import { GLOBAL, MISSING, type Packet } from "../lib/codec/packet.ts";
import { encodeFrame, readFrames } from "../lib/protocol/frames.ts";
import { bytesReader } from "../lib/protocol/byte_streams.ts";
import { analyzeFunction } from "../lib/capture/analyze.ts";

/** Encodes, frames, reads back and decodes `value`, as a job result travels. */
export async function roundTrip(value: unknown): Promise<unknown> {
  const packet = encodeValue(value, "result", {
    to: "notebook",
    resolve: (name) => name in globalThis ? GLOBAL : MISSING,
    analyze: analyzeFunction,
  });
  const bytes = encodeFrame({ t: "result", value: packet });
  const { value: message } = await readFrames(bytesReader(bytes)).next();
  const received = (message as { value: Packet }).value;
  return decodePacket(received, { mode: "closure" }).value;
}
