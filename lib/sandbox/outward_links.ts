// Deno checks a path permission against the path a job names, not where a
// symlink leads: with `read: ["data"]`, `data/link -> /etc` would open /etc.
// So before a runtime starts, the granted directories are scanned for links
// that lead outside every grant, and each such link is denied outright
// (`--deny-read=data/link`). A job with path-scoped grants cannot make new
// links (Deno requires unscoped read and write for that).
import { isAbsolute, join, resolve } from "node:path";

/** Most directory entries scanned per job; past it the job gets a warning. */
export const SCAN_BUDGET = 20_000;

function canonical(path: string): string | undefined {
  try {
    return Deno.realPathSync(path);
  } catch {
    return undefined;
  }
}

function inside(path: string, roots: string[]): boolean {
  return roots.some((root) =>
    path === root || path.startsWith(root.endsWith("/") ? root : `${root}/`)
  );
}

/**
 * Finds the symlinks under `grants` that lead outside all of them (or
 * nowhere yet).
 *
 * @param grants Granted paths, absolute or relative to the working directory.
 * @returns The links to deny, and whether the scan saw every entry.
 */
export function outwardLinks(
  grants: string[],
): { links: string[]; complete: boolean } {
  const absolute = grants.map((g) => (isAbsolute(g) ? g : resolve(g)));
  const roots = absolute.map((g) => canonical(g) ?? g);
  const links: string[] = [];
  const queue = absolute.filter((g) => {
    try {
      return Deno.statSync(g).isDirectory;
    } catch {
      return false;
    }
  });
  let seen = 0;
  while (queue.length) {
    const dir = queue.shift()!;
    let entries: Iterable<Deno.DirEntry>;
    try {
      entries = Deno.readDirSync(dir);
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (++seen > SCAN_BUDGET) return { links, complete: false };
      const path = join(dir, entry.name);
      if (entry.isSymlink) {
        const target = canonical(path);
        if (target === undefined || !inside(target, roots)) links.push(path);
      } else if (entry.isDirectory) queue.push(path);
    }
  }
  return { links, complete: true };
}
