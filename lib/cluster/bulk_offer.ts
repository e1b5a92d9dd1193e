/**
 * A big result straight from its runner: the runner keeps the result's raw
 * buffers (its typed arrays) on a TCP port of its own, and the end event
 * says where; the kernel connects, names them with their token, and reads
 * them. Through the event stream each megabyte is a message the server
 * stores and acknowledges; a TCP connection moves them at the network's
 * pace. An offer not taken within a minute is dropped.
 *
 * The stream: the kernel sends the 36-character token; the runner answers a
 * u32 count, one f64 size per buffer, then the bytes, and closes. A runner
 * offers a result as soon as its end is read, and sends each buffer on as
 * its bytes come from the runtime (read behind), so the two hops overlap; a
 * runtime that stops half-way cuts the fetch off.
 *
 * @module
 */
import type { BulkOffer } from "../protocol/messages.ts";
import { readInto, writeAll } from "../protocol/byte_streams.ts";
import { fillingOf, readFresh, recycle } from "../os/fresh_read.ts";

/** Results with raw buffers of at least this many bytes go this way. */
export const OFFER_MIN = 1024 * 1024;
const KEEP_MS = 60_000;
const TOKEN_BYTES = 36;

/** The runner's side: buffers waiting to be fetched. */
export class BulkServer {
  readonly #listener: Deno.TcpListener;
  readonly #offers = new Map<string, Uint8Array[]>();
  readonly #hosts: string[];

  private constructor(listener: Deno.TcpListener) {
    this.#listener = listener;
    this.#hosts = [
      ...Deno.networkInterfaces()
        .filter((i) => i.family === "IPv4" && !i.address.startsWith("127."))
        .map((i) => i.address),
      "127.0.0.1",
    ];
    this.#serve();
  }

  /**
   * Listens on every address.
   *
   * @param port The port, 0 for any free one.
   * @returns The server.
   */
  static listen(port = 0): BulkServer {
    return new BulkServer(Deno.listen({ hostname: "0.0.0.0", port }));
  }

  /**
   * Keeps buffers for a kernel to fetch.
   *
   * @param raw The buffers.
   * @returns Where to fetch them.
   */
  offer(raw: Uint8Array[]): BulkOffer {
    const token = crypto.randomUUID();
    this.#offers.set(token, raw);
    const drop = setTimeout(() => this.#offers.delete(token), KEEP_MS);
    Deno.unrefTimer(drop);
    const { port } = this.#listener.addr as Deno.NetAddr;
    return { hosts: this.#hosts, port, token };
  }

  async #serve(): Promise<void> {
    for await (const conn of this.#listener) this.#answer(conn);
  }

  async #answer(conn: Deno.TcpConn): Promise<void> {
    try {
      const token = new Uint8Array(TOKEN_BYTES);
      await readInto(conn, token);
      const name = new TextDecoder().decode(token);
      const raw = this.#offers.get(name);
      this.#offers.delete(name);
      if (!raw) return;
      const head = new Uint8Array(4 + 8 * raw.length);
      const view = new DataView(head.buffer);
      view.setUint32(0, raw.length);
      raw.forEach((r, i) => view.setFloat64(4 + 8 * i, r.byteLength));
      await writeAll(conn, head);
      for (const bytes of raw) await sendOn(conn, bytes);
      // Sent, and referred to by nothing else here: the next big result a
      // runtime sends this runner lands in pages already faulted.
      raw.forEach(recycle);
    } catch {
      /* the kernel went away: it asks again, or fails the job */
    } finally {
      try {
        conn.close();
      } catch { /* closed */ }
    }
  }

  /** Stops listening and drops every offer. */
  close(): void {
    this.#offers.clear();
    try {
      this.#listener.close();
    } catch { /* closed */ }
  }
}

// A buffer as it is read (see readBehind): each part once it is there.
async function sendOn(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  const filling = fillingOf(bytes);
  if (!filling) return await writeAll(conn, bytes);
  let sent = 0;
  while (sent < bytes.byteLength) {
    const filled = filling.filled;
    if (filled > sent) {
      await writeAll(conn, bytes.subarray(sent, filled));
      sent = filled;
    } else {
      // `done` first: once the stream failed, `more()` stays resolved.
      await Promise.race([filling.done, filling.more()]); // throws when cut off
    }
  }
}

/**
 * The kernel's side: fetches offered buffers, trying the runner's addresses
 * in turn.
 *
 * @param offer Where.
 * @returns The buffers.
 * @throws {Error} When no address answers with them.
 */
export async function fetchOffer(offer: BulkOffer): Promise<Uint8Array[]> {
  const errors: string[] = [];
  for (const hostname of offer.hosts) {
    let conn: Deno.TcpConn | undefined;
    try {
      const connecting = Deno.connect({ hostname, port: offer.port });
      let timer: ReturnType<typeof setTimeout> | undefined;
      conn = await Promise.race([
        connecting,
        new Promise<never>((_, reject) =>
          timer = setTimeout(() => reject(new Error("no answer in 3 s")), 3000)
        ),
      ]).finally(() => clearTimeout(timer));
      await writeAll(conn, new TextEncoder().encode(offer.token));
      const count = new Uint8Array(4);
      await readInto(conn, count);
      const n = new DataView(count.buffer).getUint32(0);
      const sizes = new Uint8Array(8 * n);
      await readInto(conn, sizes);
      const view = new DataView(sizes.buffer);
      const raw: Uint8Array[] = [];
      for (let i = 0; i < n; i++) {
        raw.push(await readFresh(conn, view.getFloat64(8 * i)));
      }
      return raw;
    } catch (error) {
      errors.push(`${hostname}:${offer.port}: ${(error as Error).message}`);
    } finally {
      try {
        conn?.close();
      } catch { /* closed */ }
    }
  }
  throw new Error(
    `its result could not be fetched from its runner (${
      errors.join("; ")
    }); let the kernel reach the runner's bulk port, or start the runner with --bulk-port off`,
  );
}

/**
 * The raw buffers of a result end, with their total size; none when a part
 * is not bytes (a table's rows in chunks travel with the end itself).
 *
 * @param value The result's packet.
 * @returns The buffers, and how many bytes they hold.
 */
export function rawOf(
  value: { raw?: readonly unknown[] } | null,
): { raw: Uint8Array[]; bytes: number } {
  const raw = value?.raw ?? [];
  if (!raw.every((r) => r instanceof Uint8Array)) return { raw: [], bytes: 0 };
  const bytes = raw as Uint8Array[];
  return { raw: bytes, bytes: bytes.reduce((n, r) => n + r.byteLength, 0) };
}
