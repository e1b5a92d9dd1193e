// The kernel's ends of the FIFO a job runtime reads its messages from.
import { encodeFrame, PIPE_BUF } from "../protocol/frames.ts";
import { writeAllSync } from "../protocol/byte_streams.ts";
import type { RunMessage } from "../protocol/messages.ts";

/**
 * Opens the kernel's ends of the FIFO at `path`. One for reading and writing
 * first: so opened, a FIFO opens at once on Linux (without waiting for the
 * runtime to open the other end), and keeps what is written while one end
 * stays open; then the write end the kernel uses (which opens at once as the
 * first is a reader). A small `message` is written right away, for the
 * runtime to find as it starts. Returns both ends (the first is closed once
 * the runtime has the FIFO open: from then on writes to a runtime that is
 * gone fail) and whether the message is in.
 *
 * @throws When the FIFO cannot be opened.
 */
export function holdFifo(
  path: string,
  message: RunMessage | undefined,
): { end: Deno.FsFile; writer: Deno.FsFile; sent: boolean } {
  const end = Deno.openSync(path, { read: true, write: true });
  let writer: Deno.FsFile;
  try {
    writer = Deno.openSync(path, { write: true });
  } catch (error) {
    end.close();
    throw error;
  }
  const held = { end, writer, sent: false };
  if (!message) return held;
  let frame: Uint8Array;
  try {
    frame = encodeFrame(message);
  } catch {
    return held; // run() sends it, and reports why it cannot
  }
  if (frame.byteLength > PIPE_BUF) return held;
  writeAllSync(writer, frame);
  return { ...held, sent: true };
}
