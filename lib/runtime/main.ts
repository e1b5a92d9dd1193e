// The job runtime: the main module of every job process (`deno run` with
// the job's permissions). It connects back to the kernel, waits for one job,
// runs it, sends the result and exits. Everything the job prints goes to
// this process's stdout/stderr, which the kernel reads as the job's logs;
// the control channel is a pair of FIFOs the job's code cannot reach (their
// grants are revoked before it runs), beside a socket for big results.
import {
  encodeFrameParts,
  frameBytes,
  type FramePart,
  type FrameParts,
  onBulk,
  PIPE_BUF,
  readFrames,
} from "../protocol/frames.ts";
import {
  type ByteReader,
  withPrefix,
  writeAllSync,
} from "../protocol/byte_streams.ts";
import {
  bulky,
  connectBulk,
  markForPull,
  writeBulk,
} from "../protocol/attachments.ts";
import { installJobHooks } from "./hooks.ts";
import { toRemoteError } from "./remote_error.ts";
import { runItems, startMap } from "./map_worker.ts";
import {
  decodeArgs,
  encodeError,
  encodeOutgoing,
  encodeWhole,
  installScope,
  scopeAccessor,
  setAnalyzer,
  sharesSent,
  takeScopeAccessor,
} from "./scope.ts";
import type { FunctionInfo } from "../codec/packet.ts";
import { TableChanged } from "../codec/table_chunks.ts";
import {
  type AnalysisMessage,
  type EndMessage,
  JOB_THREADS_MS,
  type KernelMessage,
  type RunMessage,
  type RuntimeMessage,
} from "../protocol/messages.ts";

const [dir, revokeRead, revokeWrite, bulkGrants, jobWaiting, pull] = Deno.args;
let input: Deno.FsFile;
let output: Deno.FsFile;

// Synchronous, so progress() and share() reach the kernel from a busy loop.
function send(message: RuntimeMessage): void {
  for (const bytes of frameBytes(encodeFrameParts(message), true)) {
    writeAllSync(output, bytes);
  }
}

let bulk: Promise<Deno.UnixConn | undefined> | undefined;
function connect(): void {
  if (bulkGrants) bulk ??= connectBulk(dir, bulkGrants);
}
const connectLater = bulkGrants === "-" && jobWaiting === "1";

function openChannel(): void {
  input = Deno.openSync(`${dir}/in`, { read: true });
  output = Deno.openSync(`${dir}/out`, { write: true });
  // The grants existed only to open the channel: the job does not keep them.
  if (revokeRead === "1") {
    Deno.permissions.revokeSync({ name: "read", path: `${dir}/in` });
  }
  if (revokeWrite === "1") {
    Deno.permissions.revokeSync({ name: "write", path: `${dir}/out` });
  }
  // The kernel takes this runtime as started once this arrives (from the
  // FIFO, or through the relay, see lib/launch/launcher.ts): the whole
  // channel works.
  send({ t: "ready" });
  // After the FIFOs, so the kernel is not kept waiting: the socket for big
  // results. Its grants are revoked at once (connectBulk), before any
  // message is read; the job does not wait for it (a big result made before
  // it is up waits for it). When no grant had to be added ("-") and the job
  // is waiting in the FIFO already (a runtime started for it), connecting
  // waits until the job has started: the first connect of a process takes
  // ~0.5 ms.
  if (!connectLater) connect();
}

// Functions the job makes are analysed by the kernel, which has the parser
// loaded: the runtime asks, and the answer comes back on the channel.
const asked = new Map<number, PromiseWithResolvers<FunctionInfo>>();
let lastAsk = 0;
setAnalyzer((source) => {
  const id = ++lastAsk;
  const answer = Promise.withResolvers<FunctionInfo>();
  asked.set(id, answer);
  send({ t: "analyze", id, source });
  return answer.promise;
});

function answered(message: AnalysisMessage): void {
  const answer = asked.get(message.id);
  asked.delete(message.id);
  if (message.info) answer?.resolve(message.info);
  else answer?.reject(new TypeError(message.error ?? "Cannot analyse"));
}

// progress() and share() in the job reach the kernel through send().
const { flushProgress } = installJobHooks(send);

let finished = false;
let endMarker = "";

// The threads this process had as the job began, and when: sent with its
// end if the job was short (JOB_THREADS_MS), so the kernel knows whether to
// read every thread's children.
let atStart: { threads: number; at: number } | undefined;
function countThreads(): void {
  try {
    const path = "/proc/self/stat";
    if (
      Deno.permissions.querySync({ name: "read", path }).state !== "granted"
    ) {
      return;
    }
    const line = Deno.readTextFileSync(path);
    const threads = Number(
      line.slice(line.lastIndexOf(")") + 2).split(" ")[17],
    );
    if (Number.isInteger(threads)) atStart = { threads, at: performance.now() };
  } catch { /* no /proc: the kernel reads every thread's children */ }
}

function withThreads(message: EndMessage): EndMessage {
  if (!atStart || performance.now() - atStart.at >= JOB_THREADS_MS) {
    return message;
  }
  return message.t === "unreadable"
    ? message
    : { ...message, threads: atStart.threads };
}

/**
 * Sends the job's end, then awaits the kill. `whole` encodes the result
 * again without chunked tables, for when a big table changed while it was
 * taken apart (see `codec/table_chunks.ts`): the frame sent so far is
 * dropped.
 */
function finish(message: EndMessage, whole?: () => EndMessage): void {
  if (finished) return;
  let parts: FrameParts;
  try {
    parts = encodeFrameParts(withThreads(message));
  } catch (error) {
    // The result cannot be sent (too deep, too big): the job fails with why.
    if (message.t !== "error") return fail(error);
    const why = (error as Error).message;
    parts = encodeFrameParts({
      t: "error",
      error: {
        name: "Error",
        message: `The job failed, and its error could not be sent: ${why}`,
      },
    });
  }
  finished = true;
  flushProgress();
  // Everything the job printed is in the pipe before this marker, so the
  // kernel can settle the job as soon as it reads it, without waiting for
  // this process to exit.
  if (endMarker) {
    try {
      Deno.stdout.writeSync(new TextEncoder().encode(endMarker));
    } catch { /* stdout closed by the job: the kernel waits for the exit */ }
  }
  deliver(parts, whole);
}

/**
 * Waits, once the end is sent, for the kernel to kill this process with what
 * the job left running: it stops the group first and then reads which
 * processes are below this one, which this process exiting meanwhile would
 * hand to init. Ends by itself if the kernel closes the channel instead.
 */
function awaitKill(): never {
  const one = new Uint8Array(1);
  try {
    while (input.readSync(one) !== null) { /* the kernel's word, if any */ }
  } catch { /* closed */ }
  Deno.exit(0);
}

/** Writes the last frame (on the socket when big), then awaits the kill. */
function deliver(parts: FrameParts, whole?: () => EndMessage): void {
  const again = (error: unknown): void => {
    if (!(error instanceof TableChanged) || !whole) Deno.exit(1);
    let message = withThreads(whole!());
    try {
      parts = encodeFrameParts(message);
    } catch (error) {
      message = { t: "error", error: toRemoteError(error) };
      parts = encodeFrameParts(message);
    }
    deliver(parts);
  };
  if (bulk && bulky(parts)) {
    bulk.then((conn) => {
      if (!conn) return sendLast(parts, again);
      // The head on the FIFO, the body and the attachments on the socket;
      // big attachments moved out of the job's reach and marked, for the
      // kernel to pull from this process's memory where it can.
      try {
        const marks = pull === "1" ? markForPull(parts) : undefined;
        writeAllSync(output, onBulk(parts, marks)[0]);
        writeBulk(conn, parts.slice(1), marks).then(awaitKill, again);
      } catch (error) {
        again(error); // the kernel sees this process end without its result
      }
    });
  } else sendLast(parts, again);
}

/** Writes the last frame to the FIFO, then awaits the kill. */
function sendLast(parts: FramePart[], again: (error: unknown) => void): void {
  try {
    for (const bytes of frameBytes(parts, true)) writeAllSync(output, bytes);
  } catch (error) {
    return again(error);
  }
  awaitKill();
}

function fail(error: unknown): void {
  const packet = encodeError(error);
  finish({ t: "error", error: { ...toRemoteError(error), packet } });
}

// Errors the job leaves uncaught fail it. Listened for once the job has
// started (the first listener costs ~0.2 ms): still before any of them is
// reported, which happens after the job's first synchronous part.
let listening = false;
function catchStrays(): void {
  if (listening) return;
  listening = true;
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    fail(event.reason);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    fail(event.error);
  });
}

function importCode(source: string): Promise<Record<string, unknown>> {
  return import(`data:application/typescript,${encodeURIComponent(source)}`);
}

async function execute(message: RunMessage): Promise<void> {
  try {
    let value: unknown;
    countThreads();
    installScope(message.value);
    if (message.kind === "map") {
      return startMap((0, eval)(`(${message.source}\n)`));
    } else if (message.kind === "function") {
      const fn = (0, eval)(`(${message.source}\n)`);
      value = await fn(...decodeArgs(message.args));
    } else if (message.kind === "expression") {
      value = await (await importCode(`export default (${message.source}\n);`))
        .default;
    } else {
      const accessor = scopeAccessor(message.declared ?? []);
      value = { ...await importCode(message.source + accessor) };
      takeScopeAccessor(value as Record<string, unknown>);
    }
    const packet = await encodeOutgoing(value, "result");
    await sharesSent();
    finish({ t: "result", value: packet }, () => ({
      t: "result",
      value: encodeWhole(value, "result"),
    }));
  } catch (error) {
    fail(error);
  }
}

// A runtime started for its job reads the job's message first, and at once,
// synchronously (the kernel puts a small one in the FIFO as this process
// starts; a big one comes a little later): the job then runs without waiting
// for the process's first asynchronous read (~0.6 ms: Deno starts the thread
// that file reads run on).
function channelReader(): ByteReader {
  if (jobWaiting !== "1") return input;
  const first = new Uint8Array(PIPE_BUF);
  const n = input.readSync(first) ?? 0;
  return withPrefix(input, first.subarray(0, n));
}

async function serve(): Promise<void> {
  openChannel();
  for await (const msg of readFrames<KernelMessage>(channelReader())) {
    if (msg.t === "run") {
      endMarker = msg.marker ?? "";
      execute(msg);
      catchStrays();
      if (connectLater) connect();
    } else if (msg.t === "analysis") answered(msg);
    else if (msg.t === "items") runItems(msg, send).catch(fail);
    else if (msg.t === "end") finish({ t: "result", value: null });
  }
  // The kernel closed the channel: it is gone, and so is this job.
  Deno.exit(finished ? 0 : 1);
}

// Run with no arguments, the runtime only loads: Deno stores a module's
// compiled code (V8's code cache) once its evaluation is over, which a job
// runtime's never is (it exits from inside serve()), so the kernel runs this
// once (primeRuntime() in lib/launch/launcher.ts) and every runtime after it
// starts from the stored code, ~2 ms sooner.
if (dir !== undefined) await serve();
