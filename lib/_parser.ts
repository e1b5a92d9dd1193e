// bgjobs' JavaScript parser, @babel/parser, as one ES module file in bgjobs'
// own cache, not a static `npm:` import: with a package.json in the
// notebook's folder or above it, or a deno.json with `"nodeModulesDir":
// "manual"`, Deno resolves every `npm:` specifier of the kernel from that
// project's node_modules, where bgjobs' parser is not (and must not be put);
// with `"auto"` it would install it there, and a frozen lock file refuses it.
// A file with no imports loads whatever the notebook's folder holds.
//
// The file is made once per machine (per cache directory, per parser
// version), on the first import of bgjobs: `deno bundle` of the npm package,
// run outside any project (`--no-config --no-lock`, no package.json), from
// Deno's npm cache or the registry. It is written to a temporary name and
// renamed, so kernels starting together may each build it, and each load a
// whole file. Measured (2 cores, Deno 2.9.6): building it adds 0.25–0.45 s
// to that first import (with the package in Deno's npm cache; a download
// more without); loading it after takes ~10 ms, where the `npm:` import took
// ~40 ms; parsing takes what it took (the same code, minified). A script
// that may not read HOME (no `--allow-env`) has no cache: it builds one for
// itself at each run (see loadUncached()).
import { pathToFileURL } from "node:url";
import type { Node } from "./_scope_walk.ts";

const PACKAGE = "@babel/parser";
const VERSION = "7.26.3";
/** The file's name: a new parser version, or a new way to bundle it, a new name. */
const FILE = `babel-parser-${VERSION}.min.js`;

/** The options of Babel's `parse` bgjobs uses. */
export interface ParseOptions {
  /** How the code is parsed: always `"module"` here. */
  sourceType: "module";
  /** Syntax plugins (Babel's names, some with options). */
  plugins: readonly unknown[];
  /** Top-level `await` outside a function, as in a notebook cell. */
  allowAwaitOutsideFunction: boolean;
}

/** Babel's `parse`: the file's `estree`-shaped AST (`program` in it). */
export type Parse = (code: string, options: ParseOptions) => { program: Node };

function env(name: string): string | undefined {
  // Asked first, so a script without `--allow-env` is not prompted.
  const state = Deno.permissions.querySync({ name: "env", variable: name });
  return state.state === "granted"
    ? Deno.env.get(name) || undefined
    : undefined;
}

/**
 * Where bgjobs keeps what it builds: `$BGJOBS_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/bgjobs`, else `$HOME/.cache/bgjobs`.
 *
 * @returns The directory (it may not exist yet), or `undefined` when none of
 * those variables is set (or may be read: a script without `--allow-env`).
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

/** Bundles the parser into `file`, through a temporary file beside it. */
async function build(file: string): Promise<void> {
  const dir = file.slice(0, file.lastIndexOf("/"));
  await Deno.mkdir(dir, { recursive: true });
  const work = await Deno.makeTempDir({ dir, prefix: ".build-" });
  try {
    await Deno.writeTextFile(
      `${work}/entry.ts`,
      `export { parse } from "npm:${PACKAGE}@${VERSION}";\n`,
    );
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
        "parser.js",
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
    await Deno.rename(`${work}/parser.js`, file);
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

async function importParse(url: string): Promise<Parse> {
  const module = await import(url);
  if (typeof module.parse !== "function") {
    throw new TypeError(`${url} does not export parse()`);
  }
  return module.parse;
}

async function load(): Promise<Parse> {
  const dir = cacheDir();
  let file: string | undefined;
  try {
    if (!dir) return await loadUncached();
    file = `${dir}/${FILE}`;
    const url = pathToFileURL(file).href;
    try {
      return await importParse(url);
    } catch {
      // Not built yet (or not a whole module: built again, and imported
      // under another URL, since a failed import is remembered by its URL).
    }
    await build(file);
    return await importParse(`${url}?built=${Date.now()}`);
  } catch (error) {
    const into = file
      ? ` into ${file}`
      : " (no cache directory: HOME unset, or not readable)";
    throw new Error(
      `Cannot load bgjobs' parser: building it (npm:${PACKAGE}@${VERSION})${into} failed: ${
        (error as Error).message
      }; Deno must be able to fetch that package once (network, or its npm cache in DENO_DIR), and write there (or set BGJOBS_CACHE_DIR to a writable directory)`,
      { cause: error },
    );
  }
}

// No cache directory known (a script may not read HOME): built for this
// process in a temporary directory, which goes once the module is loaded.
async function loadUncached(): Promise<Parse> {
  const temp = await Deno.makeTempDir({ prefix: "bgjobs-parser-" });
  try {
    await build(`${temp}/${FILE}`);
    return await importParse(pathToFileURL(`${temp}/${FILE}`).href);
  } finally {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
  }
}

/** Babel's `parse`, loaded (built the first time) when this module loads. */
export const parse: Parse = await load();
