// The launch spec of a job runtime: flags for its permissions (with any
// symlink that leads out of a path grant denied), memory cap, environment.
import { permissionFlags, type ResolvedPermissions } from "./permissions.ts";
import type { RuntimeSpec } from "../launch/runtime_process.ts";
import { runtimeEnv } from "./runtime_env.ts";
import { outwardLinks, SCAN_BUDGET } from "./outward_links.ts";

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
