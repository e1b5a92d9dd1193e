// The notebook's project: the Deno configuration (deno.json, package.json)
// the kernel's working directory uses, which job runtimes are started with
// and code jobs' imports are resolved by, so a job imports what a cell
// would. bgjobs' own modules never go through it: the job runtime is one
// bundled file with no imports, and the kernel's parser a file of bgjobs'
// cache (see `_parser.ts`).
//
// Deno finds a configuration from the directory of a local main module
// (bgjobs' own, for a runtime run from a checkout), not from the working
// directory; so the kernel looks from its own directory, as Deno did for it,
// and names the file: `--config <deno.json> --no-lock` (its `imports`,
// `nodeModulesDir`, `unstable` …, and Deno finds the workspace it belongs
// to; the lock file is neither read nor written, so a frozen one never
// fails a job and bgjobs never changes it), or `--no-config`, with
// `--node-modules-dir=manual` where a package.json makes Deno resolve bare
// specifiers from node_modules. Measured (Deno 2.9.6, 2 shared cores): no
// difference in a runtime's cold start between `--config` and `--no-config`
// beyond noise (p50 of 80 starts within 1.5 ms, CPU time of 60 no higher).
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { resolvePackage } from "./node_modules.ts";

/** What the kernel's working directory holds for Deno. */
export interface Project {
  /** The directory. */
  dir: string;
  /** The nearest deno.json or deno.jsonc, from `dir` up. */
  config?: string;
  /** Its import map (`imports`, or the `importMap` file's), targets resolved. */
  imports: Record<string, string>;
  /** Whether bare specifiers resolve from node_modules (Deno's "manual" or
   * "auto" node_modules, or a package.json without a deno.json saying else). */
  nodeModules: boolean;
  /** `deno run` flags that give a job runtime this configuration. */
  flags: string[];
}

const projects = new Map<string, { project: Project; stamp: string }>();

/**
 * The project of a directory. Cached while its configuration file is the
 * same (one `stat` a call): a runtime must never be given a file that is
 * gone.
 *
 * @param dir The directory, absolute.
 * @returns What Deno would use there.
 */
export function projectOf(dir: string): Project {
  const cached = projects.get(dir);
  if (cached && stampOf(cached.project.config) === cached.stamp) {
    return cached.project;
  }
  const project = findProject(dir);
  projects.set(dir, { project, stamp: stampOf(project.config) });
  return project;
}

function stampOf(config: string | undefined): string {
  if (!config) return "";
  try {
    const info = Deno.statSync(config);
    return `${info.mtime?.getTime()}:${info.size}`;
  } catch {
    return "gone";
  }
}

/**
 * The project of the kernel's working directory, or `undefined` when it has
 * none (the directory was removed).
 */
export function currentProject(): Project | undefined {
  try {
    return projectOf(Deno.cwd());
  } catch {
    return undefined;
  }
}

/**
 * What a code job's `import` of `specifier` should name so that the job
 * runtime, which runs the code as a `data:` module (no directory), loads
 * what a cell of the notebook would: relative paths against the notebook's
 * directory, bare specifiers through the nearest configuration's import map
 * (which a member of a workspace keeps to its own modules), then through
 * node_modules. Anything else is left to the runtime.
 *
 * @param specifier The import's specifier.
 * @param project The notebook's project.
 * @returns The URL to import instead, or `undefined` to keep `specifier`.
 */
export function resolveImport(
  specifier: string,
  project: Project,
): string | undefined {
  if (/^\.{0,2}\//.test(specifier)) {
    return new URL(specifier, pathToFileURL(`${project.dir}/`)).href;
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(specifier)) return undefined;
  const mapped = mapImport(specifier, project.imports);
  if (mapped !== undefined) return mapped;
  return project.nodeModules
    ? resolvePackage(specifier, project.dir)
    : undefined;
}

function mapImport(
  specifier: string,
  imports: Record<string, string>,
): string | undefined {
  if (Object.hasOwn(imports, specifier)) return imports[specifier];
  let best = "";
  for (const key of Object.keys(imports)) {
    if (
      key.endsWith("/") && specifier.startsWith(key) && key.length > best.length
    ) best = key;
  }
  return best ? imports[best] + specifier.slice(best.length) : undefined;
}

function findProject(dir: string): Project {
  let config: string | undefined;
  let packageJson = false;
  for (let at = dir;; at = dirname(at)) {
    config = ["deno.json", "deno.jsonc"].map((name) => join(at, name))
      .find(isFile);
    packageJson ||= isFile(join(at, "package.json"));
    if (config || at === dirname(at)) break;
  }
  if (!config) {
    return {
      dir,
      imports: {},
      nodeModules: packageJson,
      flags: packageJson
        ? ["--no-config", "--node-modules-dir=manual"]
        : ["--no-config"],
    };
  }
  const settings = readJsonc(config);
  const base = pathToFileURL(config);
  let imports = settings.imports;
  let importsBase = base;
  if (!isObject(imports) && typeof settings.importMap === "string") {
    importsBase = new URL(settings.importMap, base);
    try {
      imports = readJsonc(importsBase).imports;
    } catch { /* the runtime reports it, as Deno would */ }
  }
  const mode = settings.nodeModulesDir;
  return {
    dir,
    config,
    imports: resolveTargets(imports, importsBase),
    nodeModules: mode === "manual" || mode === "auto" || mode === true ||
      (mode === undefined && packageJson),
    flags: ["--config", config, "--no-lock"],
  };
}

function resolveTargets(
  imports: unknown,
  base: URL,
): Record<string, string> {
  const resolved: Record<string, string> = {};
  if (!isObject(imports)) return resolved;
  for (const [key, target] of Object.entries(imports)) {
    if (typeof target !== "string") continue;
    resolved[key] = /^\.{0,2}\//.test(target)
      ? new URL(target, base).href
      : target;
  }
  return resolved;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A JSON with comments file's object (`{}` when it is none). */
function readJsonc(file: string | URL): Record<string, unknown> {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch {
    return {};
  }
  try {
    const value = JSON.parse(stripJsonc(text));
    return isObject(value) ? value : {};
  } catch {
    return {};
  }
}

/** JSON with comments and trailing commas, as plain JSON. */
function stripJsonc(text: string): string {
  return text.replace(
    /("(?:[^"\\]|\\.)*")|\/\/[^\n]*|\/\*[\s\S]*?\*\/|,(?=\s*(?:\/\/[^\n]*\s*|\/\*[\s\S]*?\*\/\s*)*[}\]])/g,
    (_, string) => string ?? "",
  );
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
