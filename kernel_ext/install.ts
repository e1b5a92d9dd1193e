/**
 * Installs a Jupyter kernelspec that starts the Deno found on this machine as
 * a notebook kernel, so a notebook can pick "Deno (bgjobs)" and use bgjobs.
 *
 * Run it as a script: `deno task kernel:install [--dir D] [--name N]`.
 *
 * @example Usage
 * ```ts ignore
 * import { installKernelspec } from "@x/bgjobs/install";
 *
 * const dir = await installKernelspec({ name: "bgjobs-deno" });
 * console.log(`kernelspec written to ${dir}`);
 * ```
 *
 * @module
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";

/** Options for {@linkcode installKernelspec}. */
export interface InstallKernelspecOptions {
  /**
   * Kernel name: what `jupyter --kernel NAME` and a notebook's
   * `metadata.kernelspec.name` refer to. Letters, digits, `.`, `_` and `-`.
   * Jupyter names a kernel after its directory, so this only picks the
   * default `dir`.
   *
   * @default {"bgjobs-deno"}
   */
  name?: string;
  /**
   * Directory to write `kernel.json` into. Jupyter finds the kernel when the
   * directory is `<a Jupyter data path>/kernels/<name>`, e.g. under a
   * `JUPYTER_PATH` entry.
   *
   * @default {"<Jupyter user data dir>/kernels/<name>"} (`~/.local/share/jupyter/kernels/<name>` on Linux)
   */
  dir?: string;
  /**
   * Name shown in the notebook's kernel picker.
   *
   * @default {"Deno (bgjobs)"}
   */
  displayName?: string;
  /**
   * Deno executable the kernel runs.
   *
   * @default {the result of {@linkcode stableDenoPath}}
   */
  denoPath?: string;
  /**
   * Extra flags placed after `deno jupyter`, e.g. `["--unstable-kv"]`.
   * (`deno jupyter --kernel` rejects `--preload`.)
   *
   * @default {[]}
   */
  flags?: string[];
  /**
   * Overwrite a `kernel.json` that this module did not write. One written by
   * this module is always replaced, so re-running after a Deno upgrade works.
   *
   * @default {false}
   */
  force?: boolean;
}

/** Marker in `kernel.json` metadata that says the spec is ours to replace. */
const MARKER = "bgjobs";
const NAME_PATTERN = /^[A-Za-z0-9._-]+$/;

/**
 * The Jupyter user data directory, as `jupyter --paths` reports it:
 * `JUPYTER_DATA_DIR`, else the platform's per-user location.
 *
 * @returns The absolute directory path.
 */
export function jupyterDataDir(): string {
  const explicit = Deno.env.get("JUPYTER_DATA_DIR");
  if (explicit) return resolve(explicit);
  if (Deno.build.os === "darwin") return join(homedir(), "Library", "Jupyter");
  if (Deno.build.os === "windows") {
    const appData = Deno.env.get("APPDATA");
    return appData
      ? join(appData, "jupyter")
      : join(homedir(), ".jupyter", "data");
  }
  const xdg = Deno.env.get("XDG_DATA_HOME") ||
    join(homedir(), ".local", "share");
  return join(xdg, "jupyter");
}

/**
 * Writes a Jupyter kernelspec (`kernel.json`) that runs
 * `deno jupyter --kernel --conn {connection_file}` with this machine's Deno.
 *
 * @param options Where to write it and what to call it.
 * @returns The absolute directory that holds the new `kernel.json`.
 * @throws {TypeError} If `name` is not a valid kernel name.
 * @throws {Error} If `kernel.json` exists, was not written by bgjobs, and
 * `force` is not set.
 *
 * @example Install into a private Jupyter path
 * ```ts ignore
 * import { installKernelspec } from "@x/bgjobs/install";
 *
 * const root = await Deno.makeTempDir();
 * const dir = await installKernelspec({ dir: `${root}/kernels/bgjobs-deno` });
 * // Now: JUPYTER_PATH=<root> jupyter kernelspec list  shows bgjobs-deno
 * ```
 */
export async function installKernelspec(
  options: InstallKernelspecOptions = {},
): Promise<string> {
  const name = options.name ?? "bgjobs-deno";
  if (!NAME_PATTERN.test(name)) {
    throw new TypeError(
      `Cannot install kernelspec "${name}": a kernel name may only contain letters, digits, ".", "_" and "-"`,
    );
  }
  const dir = resolve(options.dir ?? join(jupyterDataDir(), "kernels", name));
  const specPath = join(dir, "kernel.json");
  if (!options.force && !(await isOurs(specPath))) {
    throw new Error(
      `Cannot install kernelspec at ${dir}: a kernel.json not written by bgjobs is there; pass force: true (--force) to overwrite it`,
    );
  }
  const spec = {
    argv: [
      options.denoPath ?? stableDenoPath(),
      "jupyter",
      ...(options.flags ?? []),
      "--kernel",
      "--conn",
      "{connection_file}",
    ],
    display_name: options.displayName ?? "Deno (bgjobs)",
    language: "typescript",
    // Deno's kernel does not survive SIGINT, Jupyter's default way to
    // interrupt; it does handle an interrupt_request message.
    interrupt_mode: "message",
    metadata: { [MARKER]: { name: basename(dir) } },
  };
  await mkdir(dir, { recursive: true });
  await writeFile(specPath, JSON.stringify(spec, null, 2) + "\n");
  return dir;
}

// Where `npx deno@…` unpacks Deno: a cache npm may clean at any time.
const TRANSIENT = /[\\/]_npx[\\/]|[\\/]_cacache[\\/]/;

/**
 * The Deno a kernelspec should run: this one, unless it lives in npx's
 * cache (`npx deno@2.9.6 task kernel:install`), which npm may clean; then
 * the first `deno` on `PATH` outside that cache. With none, this one, and
 * {@linkcode isTransientDeno} says so.
 *
 * @returns An absolute path to a Deno executable.
 * @example Usage
 * ```ts
 * import { stableDenoPath } from "./install.ts";
 * console.log(stableDenoPath().endsWith("deno")); // true
 * ```
 */
export function stableDenoPath(): string {
  const own = Deno.execPath();
  if (!isTransientDeno(own)) return own;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir || isTransientDeno(dir)) continue;
    const candidate = join(dir, "deno");
    try {
      const real = Deno.realPathSync(candidate);
      if (!isTransientDeno(real) && Deno.statSync(real).isFile) return real;
    } catch { /* not there */ }
  }
  return own;
}

/**
 * Whether a Deno path is inside npx's cache, where npm may remove it.
 *
 * @param path The path.
 * @returns `true` for a path npm may clean away.
 */
export function isTransientDeno(path: string): boolean {
  return TRANSIENT.test(path);
}

async function isOurs(specPath: string): Promise<boolean> {
  if (!existsSync(specPath)) return true;
  try {
    const spec = JSON.parse(await readFile(specPath, "utf8"));
    return typeof spec?.metadata?.[MARKER] === "object";
  } catch {
    return false; // unreadable: not ours to clobber without --force
  }
}

const usage = (): string =>
  `Usage: deno task kernel:install [--dir DIR] [--name NAME]
                                [--display-name TEXT] [--force]

Writes a Jupyter kernelspec that runs Deno as a notebook kernel.
  --deno PATH          the Deno to run (default ${stableDenoPath()})
  --name NAME          kernel name (default bgjobs-deno)
  --dir DIR            directory for kernel.json (default <jupyter data dir>/kernels/NAME)
  --display-name TEXT  name in the kernel picker (default "Deno (bgjobs)")
  --force              overwrite a kernel.json that bgjobs did not write`;

async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        dir: { type: "string" },
        deno: { type: "string" },
        name: { type: "string" },
        "display-name": { type: "string" },
        force: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage()}`);
    return 2;
  }
  if (parsed.help) {
    console.log(usage());
    return 0;
  }
  try {
    const denoPath = parsed.deno ?? stableDenoPath();
    const dir = await installKernelspec({
      dir: parsed.dir,
      denoPath,
      name: parsed.name,
      displayName: parsed["display-name"],
      force: parsed.force,
    });
    console.log(`Installed kernelspec "${basename(dir)}" at ${dir}`);
    if (isTransientDeno(denoPath)) {
      console.warn(
        `Warning: it runs ${denoPath}, in npx's cache, which npm may clean; install Deno (npm i -g deno@2.9.6) and run this again, or pass --deno PATH`,
      );
    }
    return 0;
  } catch (error) {
    console.error((error as Error).message);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
