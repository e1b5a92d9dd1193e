// The control channel between the kernel and a job runtime: two FIFOs the
// runtime is allowed to open, and waiting for both ends to be open.
import type { RuntimeSpec } from "./runtime_process.ts";

// The runtime may open its two FIFOs, and no more: a grant the job's own
// permissions do not already cover is added here and revoked by the runtime
// right after opening (a revoke also drops grants of parent directories, so
// only an uncovered path is ever added).
export function grantChannel(
  spec: RuntimeSpec,
  toJob: string,
  fromJob: string,
): string[] {
  const add = (flags: string[], name: string, all: boolean, path: string) => {
    if (all) return flags;
    const prefix = `--allow-${name}=`;
    const own = flags.find((f) => f.startsWith(prefix));
    const rest = flags.filter((f) => f !== own);
    return [...rest, own ? `${own},${path}` : `${prefix}${path}`];
  };
  return add(
    add(spec.flags, "read", spec.readAll, toJob),
    "write",
    spec.writeAll,
    fromJob,
  );
}

/** Waits for `opening`, failing if the runtime exits or takes over 30 s. */
export async function openedOrExited<T>(
  opening: Promise<T>,
  child: Deno.ChildProcess,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const failed = new Promise<never>((_, reject) => {
    child.status.then((s) =>
      reject(
        new Error(`Job runtime exited with code ${s.code} before it was ready`),
      )
    );
    timer = setTimeout(
      () => reject(new Error("Job runtime did not start within 30 s")),
      30_000,
    );
  });
  failed.catch(() => {}); // settles after the race too, when the runtime ends
  try {
    return await Promise.race([opening, failed]);
  } finally {
    clearTimeout(timer);
  }
}
