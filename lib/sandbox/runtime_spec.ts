// The launch spec of a job runtime: flags for its permissions (with any
// symlink that leads out of a path grant denied), memory cap, environment.
import { permissionFlags, type ResolvedPermissions } from "./permissions.ts";
import { runtimeEnv } from "./runtime_env.ts";
import { outwardLinks, SCAN_BUDGET } from "./outward_links.ts";

/** How to start a job runtime: its permission flags, memory cap, environment. */
export interface RuntimeSpec {
  /** `deno run` permission flags. */
  flags: string[];
  /** Whether the job may read anywhere (no channel grant to add and revoke). */
  readAll: boolean;
  /** Whether the job may write anywhere. */
  writeAll: boolean;
  /** Heap cap in MB. */
  memory?: number;
  /** The environment the runtime sees. */
  env: Record<string, string>;
}

/** The launch spec of runtimes with these permissions and memory cap. */
export function specFor(
  permissions: ResolvedPermissions,
  memory?: number,
  warn: (warning: string) => void = () => {},
): RuntimeSpec {
  const deny: string[] = [];
  for (const name of ["read", "write"] as const) {
    const grant = permissions[name];
    if (!Array.isArray(grant)) continue;
    const { links, complete } = outwardLinks(grant);
    if (links.length) deny.push(`--deny-${name}=${links.join(",")}`);
    if (!complete) {
      warn(
        `The ${name} grant holds over ${SCAN_BUDGET} entries: symlinks past them that lead outside it were not denied; grant smaller directories`,
      );
    }
  }
  return {
    flags: [...permissionFlags(permissions), ...deny],
    readAll: permissions.read === true,
    writeAll: permissions.write === true,
    memory,
    env: runtimeEnv(permissions),
  };
}
