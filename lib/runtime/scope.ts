// The job runtime's side of the codec: it installs the notebook names a job
// was sent as globals (so the job's code and the functions sent with it
// share them, as they did in the notebook), and encodes what goes back.
// Parsing is only needed when a job sends back a function it made itself.
// The kernel, which has the parser loaded anyway, does it: the runtime asks
// over the channel (see `setAnalyzer`), so runtimes never load the parser
// and start quicker.
import { decodePacket } from "../codec/decode_packet.ts";
import { encodeValue } from "../codec/encode.ts";
import {
  type FunctionInfo,
  GLOBAL,
  MISSING,
  type Packet,
} from "../codec/packet.ts";
import type { RuntimeMessage } from "../protocol/messages.ts";
import { RUNTIME_GLOBALS } from "../codec/runtime_globals.ts";

/** The export a module job gets appended, to read its own top-level names. */
const SCOPE_EXPORT = "__bgjobs_scope__";

const origins = new WeakMap<object, { id: number; privates?: string[] }>();
const installed = new Set<string>();
const moduleNames = new Set<string>();
let moduleScope: ((name: string) => unknown) | undefined;
let askKernel: ((source: string) => Promise<FunctionInfo>) | undefined;
/** Sources the kernel analysed: what it found, or why it could not. */
const analyses = new Map<string, FunctionInfo | Error>();

/** What the encoder throws for a function not analysed yet. */
class NeedsAnalysis {
  constructor(readonly source: string) {}
}

/** Sets how this runtime asks the kernel to analyse a function's source. */
export function setAnalyzer(
  ask: (source: string) => Promise<FunctionInfo>,
): void {
  askKernel = ask;
}

/** Makes the notebook names of `packet` globals of this runtime. */
export function installScope(packet: Packet | undefined): void {
  if (!packet) return;
  const { names } = decodePacket(packet, {
    mode: "global",
    onFunction(fn, id, record): void {
      if (record.s !== undefined) {
        origins.set(fn as object, { id, privates: record.x });
      }
    },
  });
  for (const name of names.keys()) installed.add(name);
}

/**
 * A function job's arguments (the results of its `after` jobs), decoded as
 * a map's items are; none without them.
 */
export function decodeArgs(packet: Packet | undefined): unknown[] {
  if (!packet) return [];
  return decodePacket(packet, { mode: "global" }).value as unknown[];
}

/** Code appended to a module job so functions it exports can be sent. */
export function scopeAccessor(declared: string[]): string {
  for (const name of declared) moduleNames.add(name);
  const cases = declared.map((n) => `case ${JSON.stringify(n)}: return ${n};`);
  return `\nexport function ${SCOPE_EXPORT}(n: string): unknown {\n` +
    `  switch (n) { ${cases.join(" ")} }\n}\n`;
}

/** Takes the accessor out of a module job's exports. */
export function takeScopeAccessor(exports: Record<string, unknown>): void {
  moduleScope = exports[SCOPE_EXPORT] as typeof moduleScope;
  delete exports[SCOPE_EXPORT];
}

/**
 * Encodes a value for the notebook, first having the kernel analyse each
 * function the job made that it holds (one at a time: a function's analysis
 * tells which further values, and functions, it brings along).
 */
export async function encodeOutgoing(
  value: unknown,
  label: string,
): Promise<Packet> {
  while (true) {
    try {
      return encodeOutgoingSync(value, label);
    } catch (error) {
      if (!(error instanceof NeedsAnalysis)) throw error;
      if (!askKernel) throw new Error("No kernel to analyse functions with");
      analyses.set(
        error.source,
        await askKernel(error.source).catch((why: Error) => why),
      );
    }
  }
}

/**
 * The error a job failed with, encoded (its class, own properties and cause
 * chain), or `undefined` when it cannot be sent as it is.
 */
export function encodeError(error: unknown): Packet | undefined {
  try {
    return encodeOutgoingSync(error, "error");
  } catch {
    return undefined;
  }
}

let sharing: Promise<void> | undefined;

/**
 * Sends a value shared with `share()`: at once when it can be encoded now,
 * else once the kernel has analysed the functions in it (later shares wait
 * their turn).
 *
 * @throws {TypeError} When the value cannot be sent.
 */
export function sendShared(
  name: string,
  value: unknown,
  send: (message: RuntimeMessage) => void,
): void {
  const label = `share("${name}")`;
  if (!sharing) {
    try {
      return send({
        t: "share",
        name,
        value: encodeOutgoingSync(value, label),
      });
    } catch (error) {
      if (!(error instanceof NeedsAnalysis)) throw error;
    }
  }
  sharing = (sharing ?? Promise.resolve()).then(async () => {
    send({ t: "share", name, value: await encodeOutgoing(value, label) });
  });
}

/** Resolves once every shared value is sent; rejects if one could not be. */
export function sharesSent(): Promise<void> {
  return sharing ?? Promise.resolve();
}

/**
 * Encodes a value already sent once (its functions analysed) again, big
 * tables in one piece: a table that changed while it was taken apart.
 */
export function encodeWhole(value: unknown, label: string): Packet {
  return encodeOutgoingSync(value, label, false);
}

/**
 * Encodes a value for the notebook now (for `share()`).
 *
 * @throws A `NeedsAnalysis` marker when a function must be analysed first.
 */
function encodeOutgoingSync(
  value: unknown,
  label: string,
  chunked = true,
): Packet {
  return encodeValue(value, label, {
    chunked,
    to: "notebook",
    resolve,
    analyze: (source) => {
      const info = analyses.get(source);
      if (!info) throw new NeedsAnalysis(source);
      if (info instanceof Error) throw info;
      return info;
    },
    origin: (fn) => origins.get(fn as object),
    snapshot: label !== "result",
  });
}

function resolve(name: string): unknown {
  if (moduleNames.has(name) && moduleScope) {
    try {
      return moduleScope(name);
    } catch {
      return MISSING;
    }
  }
  if (installed.has(name) || RUNTIME_GLOBALS.has(name)) return GLOBAL;
  try {
    return (0, eval)(name);
  } catch {
    return MISSING;
  }
}
