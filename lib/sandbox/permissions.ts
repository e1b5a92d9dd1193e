/**
 * Permissions of a job runtime: the `permissions` option, checked against
 * what the kernel itself has, and turned into `deno run` flags.
 *
 * @module
 */

/** One permission kind, as in `deno run --allow-<kind>`, e.g. `"net"`. */
export type PermissionName =
  | "read"
  | "write"
  | "net"
  | "env"
  | "run"
  | "ffi"
  | "sys"
  | "import";

/** Every permission kind a job can ask for, in flag order. */
export const PERMISSION_NAMES: readonly PermissionName[] = Object.freeze([
  "read",
  "write",
  "net",
  "env",
  "run",
  "ffi",
  "sys",
  "import",
]);

/** `true` (all), `false` (none) or a list of paths, hosts, variables or commands. */
export type PermissionValue = boolean | string[];

/** Deno's object form of permissions; a kind left out is denied. */
export type PermissionSet = { [K in PermissionName]?: PermissionValue };

/** The `permissions` option of a job. */
export type JobPermissions = "inherit" | "none" | PermissionSet;

/** Every kind resolved to `true`, `false` or a non-empty list. */
export type ResolvedPermissions = Record<PermissionName, PermissionValue>;

const DESCRIPTOR_KEY: Record<PermissionName, string | undefined> = {
  read: "path",
  write: "path",
  net: "host",
  env: "variable",
  run: "command",
  ffi: "path",
  sys: "kind",
  import: "host",
};

function kernelHas(name: PermissionName, item?: string): boolean {
  const key = DESCRIPTOR_KEY[name];
  const descriptor = item === undefined || key === undefined
    ? { name }
    : { name, [key]: item };
  return Deno.permissions.querySync(descriptor as Deno.PermissionDescriptor)
    .state === "granted";
}

function all(value: boolean): ResolvedPermissions {
  return Object.fromEntries(
    PERMISSION_NAMES.map((n) => [n, value]),
  ) as ResolvedPermissions;
}

/**
 * Resolves the `permissions` option into one value per kind, refusing what
 * the kernel itself does not have.
 *
 * `"inherit"` gives a job each kind the kernel has in full; a kind the kernel
 * has only for some paths or hosts is not inherited (Deno cannot list them),
 * so a job never gets more than the kernel.
 *
 * @param permissions The option as the user gave it.
 * @param has Whether the grantor has a permission (for an item): by default
 * the kernel, asked through `Deno.permissions`.
 * @returns One value per permission kind.
 * @throws {TypeError} On an unknown kind, a value that is not a boolean or a
 * list of strings, or a permission the kernel does not have.
 * @example Usage
 * ```ts
 * import { resolvePermissions } from "./permissions.ts";
 * console.log(resolvePermissions("none").net); // false
 * ```
 */
export function resolvePermissions(
  permissions: JobPermissions = "inherit",
  has: (name: PermissionName, item?: string) => boolean = kernelHas,
): ResolvedPermissions {
  if (permissions === "none") return all(false);
  if (permissions === "inherit") {
    const out = all(false);
    for (const name of PERMISSION_NAMES) out[name] = has(name);
    return out;
  }
  if (
    typeof permissions !== "object" || permissions === null ||
    Array.isArray(permissions)
  ) {
    throw new TypeError(
      `Cannot use permissions ${
        JSON.stringify(permissions)
      }: expected "inherit", "none" or an object like { net: true, read: ["./data"] }`,
    );
  }
  const out = all(false);
  for (const [name, value] of Object.entries(permissions)) {
    if (!(PERMISSION_NAMES as readonly string[]).includes(name)) {
      throw new TypeError(
        `Unknown permission "${name}": use one of ${
          PERMISSION_NAMES.join(", ")
        }`,
      );
    }
    out[name as PermissionName] = checkValue(
      name as PermissionName,
      value,
      has,
    );
  }
  return out;
}

function checkValue(
  name: PermissionName,
  value: unknown,
  has: (name: PermissionName, item?: string) => boolean,
): PermissionValue {
  if (value === undefined || value === false) return false;
  if (value === true) {
    if (!has(name)) {
      throw new TypeError(
        `Cannot grant "${name}" to a job: the kernel does not have it; start the kernel with --allow-${name} or ask for less`,
      );
    }
    return true;
  }
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw new TypeError(
      `Cannot use permission "${name}": ${
        JSON.stringify(value)
      } is not true, false or a list of strings`,
    );
  }
  for (const item of value) {
    if (!has(name, item)) {
      throw new TypeError(
        `Cannot grant "${name}" for "${item}" to a job: the kernel does not have it; start the kernel with --allow-${name} or ask for less`,
      );
    }
  }
  return value.length === 0 ? false : [...value];
}

/**
 * Turns resolved permissions into `deno run` flags.
 *
 * @param permissions One value per kind.
 * @returns Flags such as `--allow-net=example.com`.
 * @example Usage
 * ```ts
 * import { permissionFlags, resolvePermissions } from "./permissions.ts";
 * console.log(permissionFlags(resolvePermissions("none"))); // []
 * ```
 */
export function permissionFlags(permissions: ResolvedPermissions): string[] {
  const flags: string[] = [];
  for (const name of PERMISSION_NAMES) {
    const value = permissions[name];
    if (value === true) flags.push(`--allow-${name}`);
    else if (Array.isArray(value)) {
      flags.push(`--allow-${name}=${value.join(",")}`);
    }
  }
  return flags;
}

/**
 * Adds one path or host to the `--allow-NAME=` grant in `flags` (or a new
 * grant of it). For what bgjobs' own channel needs, on top of the job's.
 *
 * @param flags `deno run` permission flags.
 * @param name The permission.
 * @param value The path or host to add.
 * @returns The new flags.
 * @example Usage
 * ```ts
 * import { extendGrant } from "./permissions.ts";
 * console.log(extendGrant(["--allow-read=/data"], "read", "/tmp/x")); // ["--allow-read=/data,/tmp/x"]
 * ```
 */
export function extendGrant(
  flags: readonly string[],
  name: string,
  value: string,
): string[] {
  const prefix = `--allow-${name}=`;
  const own = flags.find((f) => f.startsWith(prefix));
  return [
    ...flags.filter((f) => f !== own),
    own ? `${own},${value}` : `${prefix}${value}`,
  ];
}

const PATH_KINDS: ReadonlySet<PermissionName> = new Set([
  "read",
  "write",
  "ffi",
]);

function covers(name: PermissionName, grant: string, item: string): boolean {
  if (grant === item) return true;
  return PATH_KINDS.has(name) &&
    item.startsWith(grant.endsWith("/") ? grant : `${grant}/`);
}

/**
 * The first thing `wanted` asks for beyond `max` (as `name` or
 * `name=item`), or `undefined` when `max` covers all of it. A path is
 * covered by a granted directory above it.
 *
 * @param wanted What a job asks for.
 * @param max The most it may get.
 * @returns What exceeds `max`, or `undefined`.
 * @example Usage
 * ```ts
 * import { beyond, resolvePermissions } from "./permissions.ts";
 * const max = { ...resolvePermissions("none"), read: ["/data"] };
 * console.log(beyond({ ...max, read: ["/data/x"] }, max)); // undefined
 * console.log(beyond({ ...max, net: true }, max)); // "net"
 * ```
 */
export function beyond(
  wanted: ResolvedPermissions,
  max: ResolvedPermissions,
): string | undefined {
  for (const name of PERMISSION_NAMES) {
    const want = wanted[name];
    const have = max[name];
    if (want === false || have === true) continue;
    if (want === true || have === false) {
      return want === true ? name : `${name}=${(want as string[])[0]}`;
    }
    const item = want.find((w) => !have.some((h) => covers(name, h, w)));
    if (item !== undefined) return `${name}=${item}`;
  }
  return undefined;
}

/**
 * Parses permissions written like Deno's flags without `--allow-`:
 * `"all"`, `"none"`, or a comma list such as `net,read=/data:/tmp`.
 *
 * @param text The text.
 * @returns The permissions.
 * @throws {TypeError} On an unknown permission.
 * @example Usage
 * ```ts
 * import { parsePermissions } from "./permissions.ts";
 * console.log(parsePermissions("net,read=/data:/tmp").read); // ["/data", "/tmp"]
 * ```
 */
export function parsePermissions(text: string): ResolvedPermissions {
  if (text === "all") return all(true);
  const out = all(false);
  if (text === "none" || text === "") return out;
  for (const part of text.split(",")) {
    const [name, list] = part.split("=", 2);
    if (!(PERMISSION_NAMES as readonly string[]).includes(name)) {
      throw new TypeError(
        `Unknown permission "${name}" in "${text}": use all, none, or a list of ${
          PERMISSION_NAMES.join(", ")
        }, e.g. net,read=/data`,
      );
    }
    out[name as PermissionName] = list === undefined ? true : list.split(":");
  }
  return out;
}
