/**
 * What the notebook tests, the browser tests and the demo need besides Deno,
 * and the one place that installs it (`.ci/run` runs this file; `deno task
 * test` and `deno task demo` call {@linkcode ensurePrerequisites}):
 *
 * - Debian packages, with apt as root: Jupyter (`/usr/bin/jupyter`, and
 *   `jupyter_client` + `nbclient` importable by `/usr/bin/python3`), the
 *   classic Notebook, Chromium, and `venv` for that Python. The `python3`
 *   first on `PATH` may be another build that cannot import them, so these
 *   paths are fixed.
 * - A virtual environment with JupyterLab and Notebook 7 at
 *   {@linkcode JUPYTER_VENV}, installed with pip from the wheels kept on the
 *   machine.
 *
 * @module
 */
import { homedir } from "node:os";
import { join } from "node:path";

/** Debian's Python, the one that can import the Debian Jupyter packages. */
export const PYTHON = "/usr/bin/python3";
/** Debian's `jupyter` command. */
export const JUPYTER = "/usr/bin/jupyter";
/** Debian's classic Notebook server. */
export const CLASSIC_NOTEBOOK = "/usr/bin/jupyter-notebook";
/** Debian's Chromium. */
export const CHROMIUM = "/usr/bin/chromium";
/** Debian's NATS server, for the cluster tests. */
export const NATS_SERVER = "/usr/sbin/nats-server";
/** The Debian packages that provide them. */
export const APT_PACKAGES: readonly string[] = [
  "jupyter-client",
  "python3-nbclient",
  "jupyter-nbconvert",
  "jupyter-notebook",
  "chromium",
  "python3-venv",
  "nats-server",
  "iproute2",
];
/** The one line that installs them. */
export const APT_LINE = `apt-get update && apt-get install -y ${
  APT_PACKAGES.join(" ")
}`;

/** The frontends the venv holds, at the versions the tests are made for. */
export const VENV_PINS: Readonly<Record<string, string>> = {
  jupyterlab: "4.6.4",
  notebook: "7.6.3",
};
/** Where the venv is: `BGJOBS_JUPYTER_VENV`, else in the user's cache. */
export const JUPYTER_VENV: string = Deno.env.get("BGJOBS_JUPYTER_VENV") ||
  join(homedir(), ".cache", "bgjobs", "jupyter-venv");
/**
 * The machine's wheel index. pip is configured to look there too, but also
 * asks pypi.org first (unreachable: a minute of retries); `--isolated
 * --index-url` makes this the only source.
 */
const LOCAL_INDEX = "/opt/pypi/simple";

const pipInstall = (): string[] => [
  "install",
  "--quiet",
  "--disable-pip-version-check",
  ...(exists(LOCAL_INDEX)
    ? ["--isolated", "--index-url", `file://${LOCAL_INDEX}`]
    : []),
  ...Object.entries(VENV_PINS).map(([name, version]) => `${name}==${version}`),
];
/** The one line that installs the venv. */
export const VENV_LINE = `${PYTHON} -m venv ${JUPYTER_VENV} && ` +
  `${JUPYTER_VENV}/bin/pip ${pipInstall().join(" ")}`;

/**
 * A command of the venv, e.g. `jupyter-lab`.
 *
 * @param name The command's name in the venv's `bin/`.
 * @returns Its path.
 */
export function venvCommand(name: string): string {
  return join(JUPYTER_VENV, "bin", name);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function probe(
  cmd: string,
  args: string[],
): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await new Deno.Command(cmd, { args, stdin: "null" }).output();
    const decode = (b: Uint8Array): string => new TextDecoder().decode(b);
    return { ok: r.success, out: (decode(r.stdout) + decode(r.stderr)).trim() };
  } catch (error) {
    return { ok: false, out: (error as Error).message };
  }
}

/**
 * Checks that Debian's Jupyter is usable.
 *
 * @returns `undefined` when it is, else what is missing.
 */
export async function missingJupyter(): Promise<string | undefined> {
  for (const path of [PYTHON, JUPYTER]) {
    if (!exists(path)) return `${path} not found`;
  }
  const { ok, out } = await probe(PYTHON, [
    "-c",
    "import jupyter_client, nbclient, nbconvert",
  ]);
  return ok ? undefined : `${PYTHON} cannot import jupyter_client/nbclient/` +
    `nbconvert (${out.split("\n").pop()})`;
}

/**
 * Checks for the other Debian packages: the classic Notebook, Chromium and
 * Python's `venv`.
 *
 * @returns `undefined` when they are there, else what is missing.
 */
export async function missingDebianTools(): Promise<string | undefined> {
  const absent = [CLASSIC_NOTEBOOK, CHROMIUM, NATS_SERVER, "/usr/sbin/ip"]
    .filter((path) => !exists(path));
  if (absent.length > 0) return `${absent.join(" and ")} not found`;
  const { ok } = await probe(PYTHON, ["-c", "import ensurepip, venv"]);
  return ok ? undefined : `${PYTHON} has no venv module`;
}

/**
 * Checks the venv holds the pinned JupyterLab and Notebook.
 *
 * @returns `undefined` when it does, else what is wrong.
 */
export async function missingJupyterVenv(): Promise<string | undefined> {
  const python = venvCommand("python");
  if (!exists(python)) return `no Jupyter venv at ${JUPYTER_VENV}`;
  const names = Object.keys(VENV_PINS);
  const { ok, out } = await probe(python, [
    "-c",
    "import sys; from importlib.metadata import version; " +
    "print(' '.join(version(n) for n in sys.argv[1:]))",
    ...names,
  ]);
  const want = Object.values(VENV_PINS).join(" ");
  return ok && out === want ? undefined : `the venv at ${JUPYTER_VENV} has ` +
    `${names.join(" ")} ${ok ? out : "unreadable"}, not ${want}`;
}

/** Whether this process runs as root (so it may run apt-get itself). */
export function isRoot(): boolean {
  return Deno.uid?.() === 0;
}

async function run(cmd: string, args: string[]): Promise<boolean> {
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const child = new Deno.Command(cmd, {
    args,
    env,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  return (await child.status).success;
}

/** Options for {@linkcode ensurePrerequisites}. */
export interface PrerequisiteOptions {
  /**
   * Also the browser tests' tools: the classic Notebook, Chromium and the
   * venv with JupyterLab and Notebook 7.
   *
   * @default {true}
   */
  browsers?: boolean;
}

/**
 * Installs what is missing (Debian packages only as root with apt; the venv
 * as anyone) and says what still is.
 *
 * @param options What is needed.
 * @returns One line per problem left, each ending with the command that
 * fixes it; empty when all is there.
 */
export async function ensurePrerequisites(
  options: PrerequisiteOptions = {},
): Promise<string[]> {
  const browsers = options.browsers ?? true;
  const debian = async (): Promise<(string | undefined)[]> => [
    await missingJupyter(),
    browsers ? await missingDebianTools() : undefined,
  ];
  let missing = (await debian()).filter(Boolean);
  if (missing.length > 0 && isRoot() && exists("/usr/bin/apt-get")) {
    console.error(`Installing (${missing.join("; ")}): ${APT_LINE}`);
    await run("apt-get", ["update", "-q"]) &&
      await run("apt-get", ["install", "-y", "-q", ...APT_PACKAGES]);
    missing = (await debian()).filter(Boolean);
  }
  const problems = missing.map((why) => `${why}; as root run: ${APT_LINE}`);
  if (!browsers) return problems;
  let venv = await missingJupyterVenv();
  if (venv) {
    console.error(
      `Installing JupyterLab and Notebook 7 (${venv}): ${VENV_LINE}`,
    );
    const made = exists(venvCommand("python")) ||
      await run(PYTHON, ["-m", "venv", JUPYTER_VENV]);
    if (made) await run(venvCommand("pip"), pipInstall());
    venv = await missingJupyterVenv();
  }
  if (venv) problems.push(`${venv}; run: ${VENV_LINE}`);
  return problems;
}

if (import.meta.main) {
  const started = Date.now();
  const problems = await ensurePrerequisites();
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) Deno.exit(1);
  console.log(
    `Jupyter, Chromium and the venv at ${JUPYTER_VENV} are ready ` +
      `(${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
}
