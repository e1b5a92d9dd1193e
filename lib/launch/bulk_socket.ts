/**
 * The kernel's side of the bulk socket (see `protocol/attachments.ts`): listening in
 * a runtime's channel directory, granting the runtime what connecting takes,
 * accepting its connection when the first big result comes, and reading the
 * attachments with their pages faulted ahead on another core.
 *
 * @module
 */
import type { RuntimeSpec } from "../sandbox/runtime_spec.ts";
import { extendGrant } from "../sandbox/permissions.ts";
import { BULK_NAME } from "../protocol/attachments.ts";
import {
  type Marks,
  type PullReader,
  writeAll,
} from "../protocol/byte_streams.ts";
import { fillingOf, readBehind, readFresh } from "../os/fresh_read.ts";
import { canPull, locate, mapsOf, pullFrom } from "../os/pull.ts";

// Turned on by a notebook's kernel: the next big result of a size comes into
// a buffer made ready meanwhile.
export { prepareAhead } from "../os/fresh_read.ts";

/**
 * Set once by a process that only passes big results on (a runner): the
 * attachments of a result are read behind (`os/fresh_read.ts`), so its end
 * is known, and offered, while its bytes still come.
 */
export const passOn: { readBehind: boolean } = { readBehind: false };

/**
 * Whether a runtime about to start may mark its big results to be pulled
 * from its memory (`os/pull.ts`): where this process can, and does not only
 * pass results on.
 *
 * @returns Whether to tell the runtime so.
 */
export function pullingAllowed(): boolean {
  return !passOn.readBehind && canPull();
}

/**
 * Adds what the runtime needs to connect to the bulk socket (read, write and
 * `unix:` net access to its path) to `flags`, unless the job has it already.
 *
 * @returns The flags, and the letters (`r`, `w`, `n`) of the grants added,
 * which the runtime revokes once connected (`-` when none).
 */
export function grantBulk(
  flags: string[],
  spec: RuntimeSpec,
  dir: string,
): { flags: string[]; added: string } {
  const path = `${dir}/${BULK_NAME}`;
  const netAll = spec.flags.includes("--allow-net");
  let added = "";
  for (
    const [letter, name, all, value] of [
      ["r", "read", spec.readAll, path],
      ["w", "write", spec.writeAll, path],
      ["n", "net", netAll, `unix:${path}`],
    ] as const
  ) {
    if (all) continue;
    flags = extendGrant(flags, name, value);
    added += letter;
  }
  return { flags, added: added || "-" };
}

/**
 * Listens on the bulk socket in `dir`, or returns `undefined` when a Unix
 * socket cannot be made there (the runtime then sends all through the FIFO).
 */
export function listenBulk(
  dir: string,
  pid: number,
): BulkSocket | undefined {
  try {
    const path = `${dir}/${BULK_NAME}`;
    return new BulkSocket(Deno.listen({ transport: "unix", path }), dir, pid);
  } catch {
    return undefined;
  }
}

/**
 * One runtime's bulk socket, as the kernel holds it. It accepts the
 * runtime's connection as soon as it comes, then closes the listener and
 * removes the channel directory (the socket's path); a runtime that never
 * connects leaves both until {@linkcode BulkSocket.close}.
 */
export class BulkSocket {
  #listener: Deno.UnixListener | undefined;
  #dir: string | undefined;
  #conn: Promise<Deno.UnixConn>;
  #accepted: Deno.UnixConn | undefined;
  #closed = false;
  #pid: number;
  // The last read behind: the next one starts after it (one stream).
  #behind: Promise<void> = Promise.resolve();

  constructor(listener: Deno.UnixListener, dir: string, pid: number) {
    this.#pid = pid;
    this.#listener = listener;
    this.#dir = dir;
    this.#conn = listener.accept();
    listener.unref(); // an idle runtime does not keep a script alive
    this.#conn.then((conn) => {
      if (this.#closed) return closeQuietly(conn); // came as it was closed
      this.#accepted = conn;
      this.#unlisten();
    }, () => {});
  }

  /** Whether the channel directory is removed, or being removed. */
  get unlinked(): boolean {
    return this.#dir === undefined;
  }

  /** The runtime's connection, as the frame reader reads attachments. */
  async reader(): Promise<PullReader> {
    const conn = await this.#conn;
    if (!passOn.readBehind) return new BulkReader(conn, this.#pid);
    // Whatever else is read comes after what is read behind: one stream.
    return {
      read: async (p) => {
        await this.#behind;
        return await conn.read(p);
      },
      fill: async (size) => {
        await this.#behind;
        return await readFresh(conn, size);
      },
      behind: (size) => {
        const bytes = readBehind(conn, size, this.#behind);
        this.#behind = fillingOf(bytes)!.done;
        return bytes;
      },
      // Its runtimes are not told to mark (pullingAllowed): all come here.
      find: async (marks) => {
        await writeAll(conn, new Uint8Array(marks.size));
        return new Map();
      },
    };
  }

  /** Resolves once every read behind has ended, read in full or failed. */
  behind(): Promise<void> {
    return this.#behind.catch(() => {});
  }

  /**
   * Closes the listener and the connection: reads under way fail. It does
   * not wait for the accept a closed listener cancels: that operation is
   * unreferenced, and a script whose last wait it was would end there
   * ("Promise resolution is still pending": 1 `jobs.shutdown()` in ~60 as a
   * runtime started).
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#unlisten();
    closeQuietly(this.#accepted);
    this.#accepted = undefined;
  }

  async #unlisten(): Promise<void> {
    try {
      this.#listener?.close();
    } catch { /* already closed */ }
    this.#listener = undefined;
    const dir = this.#dir;
    this.#dir = undefined;
    if (dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function closeQuietly(conn: Deno.UnixConn | undefined): void {
  try {
    conn?.close();
  } catch { /* already closed */ }
}

/** The bulk socket as the frame reader reads it: attachments faulted ahead. */
class BulkReader implements PullReader {
  #conn: Deno.UnixConn;
  #pid: number;

  constructor(conn: Deno.UnixConn, pid: number) {
    this.#conn = conn;
    this.#pid = pid;
  }

  /** Reads what the socket has, up to `p`'s length. */
  read(p: Uint8Array): Promise<number | null> {
    return this.#conn.read(p);
  }

  /** Reads the next `size` bytes into a buffer of their own, faulted ahead. */
  fill(size: number): Promise<Uint8Array> {
    return readFresh(this.#conn, size);
  }

  /** Pulls the marked attachments from the runtime's memory (`os/pull.ts`). */
  async find(
    marks: Marks,
    sizes: number[],
  ): Promise<Map<number, Uint8Array | undefined>> {
    const found = new Map<number, bigint>();
    const answers = new Uint8Array(marks.size);
    const maps = canPull() ? mapsOf(this.#pid) : undefined;
    let k = 0;
    for (const [i, mark] of marks) {
      const at = maps === undefined
        ? undefined
        : locate(this.#pid, mark, sizes[i], maps);
      if (at !== undefined) found.set(i, at);
      answers[k++] = at === undefined ? 0 : 1;
    }
    await writeAll(this.#conn, answers);
    const pulled = new Map<number, Uint8Array | undefined>();
    for (const [i, at] of found) {
      const { saved } = marks.get(i)!;
      pulled.set(i, await pullFrom(this.#pid, at, sizes[i], saved));
    }
    return pulled;
  }
}
