// The environment a job runtime starts with: none of the kernel's variables
// unless the job was granted `env`; always where Deno keeps its cache (so
// modules are not fetched again), and PATH when it may run programs.
//
// Always `DENO_NO_UPDATE_CHECK=1` too: a `deno run` that lives past 0.5 s
// checks for a newer Deno on its event loop, whatever the job's permissions:
// it makes an HTTP client (which reads the file NODE_EXTRA_CA_CERTS names, if
// any: 220 KB of CA certificates on this machine) and asks DNS for Deno's
// download server. A runtime idle in the pool spent 10-20 ms of CPU and ~400
// page faults on it (strace, /proc), and a job running at that moment waits.
// Where the server cannot be reached every runtime tries again; where it
// can, the first one a day sends a request.
import type { ResolvedPermissions } from "./permissions.ts";

function get(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // the kernel itself may not read its environment
  }
}

let denoDir: string | undefined | null = null;

function cacheDir(): string | undefined {
  if (denoDir === null) {
    const xdg = get("XDG_CACHE_HOME");
    const home = get("HOME");
    denoDir = get("DENO_DIR") ??
      (xdg ? `${xdg}/deno` : home ? `${home}/.cache/deno` : undefined);
  }
  return denoDir;
}

/** The environment of a runtime with these permissions. */
export function runtimeEnv(
  permissions: ResolvedPermissions,
): Record<string, string> {
  const env: Record<string, string> = {};
  if (permissions.env === true) Object.assign(env, Deno.env.toObject());
  else if (Array.isArray(permissions.env)) {
    for (const name of permissions.env) {
      const value = get(name);
      if (value !== undefined) env[name] = value;
    }
  }
  const dir = cacheDir();
  if (dir) env.DENO_DIR = dir;
  const path = get("PATH");
  if (permissions.run && path && env.PATH === undefined) env.PATH = path;
  env.NO_COLOR = "1";
  env.DENO_NO_UPDATE_CHECK = "1";
  return env;
}
