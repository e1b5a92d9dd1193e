// Errors thrown in a job, as plain data for the kernel (which revives them,
// see `engine/errors.ts`).
import type { RemoteError } from "../protocol/messages.ts";

// bgjobs' own code, whether the runtime runs the bundle
// (`lib/runtime/_bundle.js`) or the sources, from a checkout or a registry:
// no frame from here is the user's. Worked out when an error is first
// cleaned, not as every runtime loads: a process's first `URL` takes ~0.6
// ms (half of the bundle's evaluation), and most jobs throw nothing.
let ownCode: string | undefined;
function ownCodeUrl(): string {
  return ownCode ??= new URL("../", import.meta.url).href;
}

// Job code is evaluated from a string or imported from a data: URL; both
// make unreadable frames. They become `<job>:LINE:COL`, lines counted in the
// user's own source, and the runtime's own frames are dropped.
function cleanStack(stack: string | undefined): string | undefined {
  return stack?.split("\n")
    .map((line) =>
      line
        .replace(/eval at execute \([^)]*\), <anonymous>/, "<job>")
        .replace(/eval at materialize \([^)]*\), <anonymous>/, "<notebook>")
        .replace(
          /data:application\/typescript,\S*?:(\d+:\d+)(?=\)?$)/,
          "<job>:$1",
        )
        .replace(/^(\s+at )eval \((<job>:\d+:\d+)\)$/, "$1$2")
    )
    .filter((line) =>
      !line.includes(ownCodeUrl()) && !/\(ext:|at ext:/.test(line)
    )
    .join("\n");
}

/** Turns anything thrown into a serializable description, `cause` included. */
export function toRemoteError(error: unknown, depth = 0): RemoteError {
  if (error instanceof Error) {
    const out: RemoteError = {
      name: error.name,
      message: error.message,
      stack: cleanStack(error.stack),
    };
    if (error.cause !== undefined && depth < 8) {
      out.cause = toRemoteError(error.cause, depth + 1);
    }
    return out;
  }
  return { name: "Error", message: `Uncaught ${describe(error)}` };
}

function describe(value: unknown): string {
  try {
    return typeof value === "string" ? JSON.stringify(value) : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
