// What cannot travel between the notebook and a job, and what to tell the
// user about it: each refusal says why and what to do instead.
import { RUNTIME_GLOBALS } from "./runtime_globals.ts";

/** Which way a value goes: decides the wording of refusals. */
export type Direction = "job" | "notebook";

/** A refusal: the reason, then the fix. */
export interface Refusal {
  why: string;
  fix: string;
  /** For a name a function uses that the sender does not have: that name. */
  missing?: string;
}

// Deno's resource classes, by constructor name (most are not on `Deno`).
const RESOURCES: Record<string, string> = {
  Listener: "Deno.Listener",
  TcpListener: "Deno.TcpListener",
  UnixListener: "Deno.UnixListener",
  TlsListener: "Deno.TlsListener",
  Conn: "Deno.Conn",
  TcpConn: "Deno.TcpConn",
  UnixConn: "Deno.UnixConn",
  TlsConn: "Deno.TlsConn",
  DatagramConn: "Deno.DatagramConn",
  QuicConn: "Deno.QuicConn",
  FsFile: "Deno.FsFile",
  FsWatcher: "Deno.FsWatcher",
  ChildProcess: "Deno.ChildProcess",
  Command: "Deno.Command",
  Stdin: "Deno.stdin",
  Stdout: "Deno.stdout",
  Stderr: "Deno.stderr",
  Kv: "Deno.Kv",
  HttpClient: "Deno.HttpClient",
  WebSocket: "WebSocket",
  Worker: "Worker",
};

const BY_PROTOTYPE = new Map<object, (to: Direction) => Refusal>([
  [Promise.prototype, (to) => ({
    why: "it is a promise",
    fix: to === "job"
      ? "await it in the notebook first and send the value"
      : "await it inside the job and send the value",
  })],
  ...[WeakMap, WeakSet, WeakRef, FinalizationRegistry].map((C) =>
    [C.prototype, () => ({
      why: `a ${C.name} cannot be copied (what it holds is not enumerable)`,
      fix: `use a ${C.name === "WeakSet" ? "Set" : "Map"} or plain data`,
    })] as [object, (to: Direction) => Refusal]
  ),
  [SharedArrayBuffer.prototype, () => ({
    why: "a SharedArrayBuffer cannot be shared with another process",
    fix: "copy it into an ArrayBuffer",
  })],
]);

/** A refusal for instances of builtin types that never travel, if `proto` is one. */
export function builtinRefusal(
  proto: object,
  to: Direction,
): Refusal | undefined {
  return BY_PROTOTYPE.get(proto)?.(to);
}

/** Why an instance of a class that cannot be sent cannot travel. */
export function instanceRefusal(
  className: string,
  detail: string | undefined,
  to: Direction,
): Refusal {
  const inside = to === "job" ? "inside the job" : "in the notebook";
  const resource = RESOURCES[className];
  if (resource) {
    return {
      why: `${resource} is not serializable`,
      fix: `open it ${inside}`,
    };
  }
  return {
    why: `it is a ${className || "class instance"}, which is not serializable${
      detail ? ` (${detail})` : ""
    }`,
    fix: `send plain data and build the ${className || "object"} ${inside}`,
  };
}

/** Why a function whose code cannot be sent cannot travel. */
export function functionRefusal(
  kind: "native" | "bound",
  to: Direction,
): Refusal {
  const inside = to === "job" ? "inside the job" : "in the notebook";
  return kind === "bound"
    ? {
      why: "it is a bound function, whose code cannot be sent",
      fix: `call bind() ${inside}`,
    }
    : {
      why: "it is a native function, whose code cannot be sent",
      fix: `call it ${inside}`,
    };
}

/** Why a name a function uses cannot be sent. */
export function freeNameRefusal(
  name: string,
  usedBy: string | undefined,
  to: Direction,
): Refusal {
  if (to === "notebook") {
    return {
      why:
        `it uses "${name}", a variable of the function that made it, which cannot be read from outside`,
      fix:
        "return plain data, or define the function and what it uses at the top level of a code job",
      missing: name,
    };
  }
  if (usedBy === undefined) {
    return {
      why:
        "it is not a notebook top-level name (a variable of an enclosing function, or not defined)",
      fix:
        "make it a top-level variable of the notebook, or compute it inside the job",
    };
  }
  return {
    why:
      `it uses "${name}", which is not a notebook top-level name (it comes from a module or an enclosing function)`,
    fix:
      "import it inside the job with await import(), or use the code form, job(`…`), with an import",
    missing: name,
  };
}

/** The refusal for an imported module namespace (`import * as m`). */
export function moduleRefusal(to: Direction): Refusal {
  return {
    why: "it is an imported module",
    fix: to === "job"
      ? "import it inside the job with await import(), or use the code form, job(`…`), with an import"
      : "import it in the notebook",
  };
}

let builtinPaths: Map<unknown, string> | undefined;

/**
 * Where a builtin function lives on `globalThis` (`"console.log"`,
 * `"Math.max"`, `"fetch"`), so it can be sent by name; `undefined` when it
 * is not one.
 */
export function builtinPath(fn: unknown): string | undefined {
  if (!builtinPaths) {
    builtinPaths = new Map();
    const global = globalThis as Record<string, unknown>;
    for (const name of RUNTIME_GLOBALS) {
      const value = readGlobal(global, name);
      if (typeof value === "function") builtinPaths.set(value, name);
    }
    for (const name of RUNTIME_GLOBALS) {
      const value = readGlobal(global, name);
      // Not through `global`, `self` …: the notebook's own names live there.
      if (
        !value || value === globalThis ||
        (typeof value !== "object" && typeof value !== "function")
      ) continue;
      for (const key of Object.getOwnPropertyNames(value)) {
        const member = read(value as Record<string, unknown>, key);
        if (typeof member === "function" && !builtinPaths.has(member)) {
          builtinPaths.set(member, `${name}.${key}`);
        }
      }
    }
  }
  return builtinPaths.get(fn);
}

/** The value at a path from {@linkcode builtinPath}. */
export function atBuiltinPath(path: string): unknown {
  let value: unknown = globalThis;
  for (const key of path.split(".")) {
    value = (value as Record<string, unknown>)?.[key];
  }
  return value;
}

// Many of Deno's globals are getters that load them on first use; these
// few would open storage, or throw.
const UNREAD = new Set([
  "localStorage",
  "sessionStorage",
  "caches",
  "location",
]);

function readGlobal(global: Record<string, unknown>, name: string): unknown {
  if (UNREAD.has(name)) return undefined;
  try {
    return global[name];
  } catch {
    return undefined;
  }
}

function read(object: Record<string, unknown>, key: string): unknown {
  try {
    const desc = Object.getOwnPropertyDescriptor(object, key);
    return desc && "value" in desc ? desc.value : undefined;
  } catch {
    return undefined;
  }
}
