/**
 * Threads as the raw contenders use them: a Deno Web Worker (in a script
 * with `deno.permissions`, which needs `--unstable-worker-options`: asked
 * for in a kernel, which runs without it, the kernel exits) or a
 * `node:worker_threads` Worker inside Deno, both made from a script body
 * that talks through `send(value, transfer?)` and `receive(fn)`.
 *
 * @module
 */
import { Worker as NodeWorker } from "node:worker_threads";
import type { Where } from "../_scenario.ts";

/** Which kind of thread. */
export type ThreadKind = "deno" | "node";

/** A started thread. */
export interface Thread {
  /** Posts a message to the thread. */
  post(message: unknown, transfer?: Transferable[]): void;
  /** Calls `fn` with every message the thread sends. */
  listen(fn: (message: unknown) => void): void;
  /** `terminate()`; resolves when the call returned (not when it stopped). */
  terminate(): Promise<void>;
}

const DENO_PRELUDE = `
const send = (value, transfer) => postMessage(value, transfer ?? []);
const receive = (fn) => { self.onmessage = (event) => fn(event.data); };
`;
const NODE_PRELUDE = `
const { parentPort } = require("node:worker_threads");
const send = (value, transfer) => parentPort.postMessage(value, transfer ?? []);
const receive = (fn) => parentPort.on("message", fn);
`;

/**
 * Starts a thread running `body` (plain JavaScript, run inside an async
 * function, so it may `await`). In a kernel a Deno Worker gets no
 * permissions of its own.
 */
export function startThread(
  kind: ThreadKind,
  body: string,
  where: Where = "script",
): Thread {
  const wrapped = `(async () => {\n${body}\n})();`;
  if (kind === "deno") {
    const code = DENO_PRELUDE + wrapped;
    const options = where === "script"
      ? { type: "module", deno: { permissions: "inherit" } }
      : { type: "module" };
    const worker = new Worker(
      `data:text/javascript,${encodeURIComponent(code)}`,
      options as WorkerOptions,
    );
    return {
      post: (message, transfer = []) => worker.postMessage(message, transfer),
      listen: (fn) => worker.onmessage = (event) => fn(event.data),
      terminate: () => Promise.resolve(worker.terminate()),
    };
  }
  const worker = new NodeWorker(NODE_PRELUDE + wrapped, { eval: true });
  return {
    post: (message, transfer = []) =>
      worker.postMessage(message, transfer as never[]),
    listen: (fn) => worker.on("message", fn),
    terminate: async () => {
      await worker.terminate();
    },
  };
}

/** Starts a thread and waits for its first message. */
export async function firstMessage(
  kind: ThreadKind,
  body: string,
): Promise<{ thread: Thread; message: unknown }> {
  const thread = startThread(kind, body);
  const message = await new Promise<unknown>((resolve) => {
    thread.listen(resolve);
  });
  return { thread, message };
}

/** The display name of a thread contender. */
export function threadName(kind: ThreadKind): string {
  return kind === "deno" ? "Deno Worker" : "node:worker_threads";
}
