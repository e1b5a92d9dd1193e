/**
 * bgjobs' npm dependencies (its parser, its NATS clients), each loaded from
 * one ES module file with no imports in bgjobs' own cache, never through a
 * static `npm:` import. With a `package.json` in the notebook's folder or
 * above it, or a `deno.json` with `"nodeModulesDir": "manual"`, Deno
 * resolves every `npm:` specifier from that project's `node_modules`, where
 * bgjobs' dependencies are not (and must not be put); with `"auto"` it would
 * install them there, and a frozen lock file refuses them. A file with no
 * imports loads whatever the notebook's folder holds.
 *
 * A file is made once per machine (per cache directory, per version), the
 * first time it is needed: `deno bundle` of a one-line entry, run outside
 * any project (`--no-config --no-lock`, no package.json), from Deno's npm
 * cache or the registry; written under a temporary name and renamed, so
 * kernels starting together may each build it and each load a whole file.
 *
 * @module
 */
import { pathToFileURL } from "node:url";

function env(name: string): string | undefined {
  // Asked first, so a script without `--allow-env` is not prompted.
  const state = Deno.permissions.querySync({ name: "env", variable: name });
  return state.state === "granted"
    ? Deno.env.get(name) || undefined
    : undefined;
}

/**
 * Where bgjobs keeps what it builds and stores: `$BGJOBS_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/bgjobs`, else `$HOME/.cache/bgjobs`.
 *
 * @returns The directory (it may not exist yet), or `undefined` when none of
 * those variables is set (or may be read: a script without `--allow-env`).
 * @example Usage
 * ```ts
 * import { cacheDir } from "./npm_bundle.ts";
 * console.log(typeof cacheDir()); // "string" where HOME is set
 * ```
 */
export function cacheDir(): string | undefined {
  const own = env("BGJOBS_CACHE_DIR");
  if (own) return own;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/bgjobs`;
  const home = env("HOME");
  if (home) return `${home}/.cache/bgjobs`;
  return undefined;
}

/** One npm dependency, as bgjobs loads it. */
export interface NpmBundle {
  /** The file's name in the cache: a new version, a new name. */
  file: string;
  /** The entry: `export { … } from "npm:name@version";` lines. */
  entry: string;
  /** What it is, for error messages, e.g. `bgjobs' parser`. */
  what: string;
  /** Its packages, for error messages, e.g. `npm:@babel/parser@7.26.3`. */
  spec: string;
}

/** Bundles `entry` into `file`, through a temporary file beside it. */
async function build(bundle: NpmBundle, file: string): Promise<void> {
  const dir = file.slice(0, file.lastIndexOf("/"));
  await Deno.mkdir(dir, { recursive: true });
  const work = await Deno.makeTempDir({ dir, prefix: ".build-" });
  try {
    await Deno.writeTextFile(`${work}/entry.ts`, bundle.entry);
    const made = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--no-config",
        "--no-lock",
        "--platform=deno",
        "--minify",
        "entry.ts",
        "-o",
        "bundle.js",
      ],
      cwd: work,
      env: { DENO_NO_PACKAGE_JSON: "1", NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!made.success) {
      const why = new TextDecoder().decode(made.stderr).trim();
      throw new Error(why || `deno bundle exited with code ${made.code}`);
    }
    await Deno.rename(`${work}/bundle.js`, file);
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/**
 * Loads an npm dependency from bgjobs' cache, building the file first when
 * it is not there (or does not load).
 *
 * @param bundle Which dependency, and its entry.
 * @returns The module.
 * @throws {Error} With `cause`, when it cannot be built or loaded, saying
 * what to do.
 */
export async function loadNpmBundle(
  bundle: NpmBundle,
): Promise<Record<string, unknown>> {
  const dir = cacheDir();
  let file: string | undefined;
  try {
    if (!dir) return await loadUncached(bundle);
    file = `${dir}/${bundle.file}`;
    const url = pathToFileURL(file).href;
    try {
      return await import(url);
    } catch {
      // Not built yet (or not a whole module: built again, and imported
      // under another URL, since a failed import is remembered by its URL).
    }
    await build(bundle, file);
    return await import(`${url}?built=${Date.now()}`);
  } catch (error) {
    const into = file
      ? ` into ${file}`
      : " (no cache directory: HOME unset, or not readable)";
    throw new Error(
      `Cannot load ${bundle.what}: building it (${bundle.spec})${into} failed: ${
        (error as Error).message
      }; Deno must be able to fetch that package once (network, or its npm cache in DENO_DIR), and write there (or set BGJOBS_CACHE_DIR to a writable directory)`,
      { cause: error },
    );
  }
}

// No cache directory known (a script may not read HOME): built for this
// process in a temporary directory, which goes once the module is loaded.
async function loadUncached(
  bundle: NpmBundle,
): Promise<Record<string, unknown>> {
  const temp = await Deno.makeTempDir({ prefix: "bgjobs-deps-" });
  try {
    await build(bundle, `${temp}/${bundle.file}`);
    return await import(pathToFileURL(`${temp}/${bundle.file}`).href);
  } finally {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
  }
}
