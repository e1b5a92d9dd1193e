/**
 * What the notebook tests and the demo need besides Deno: Debian's Jupyter
 * (`/usr/bin/jupyter`, and `jupyter_client` + `nbclient` importable by
 * `/usr/bin/python3`). The `python3` first on `PATH` may be another build
 * that cannot import them, so these paths are fixed.
 *
 * @module
 */

/** Debian's Python, the one that can import the Debian Jupyter packages. */
export const PYTHON = "/usr/bin/python3";
/** Debian's `jupyter` command. */
export const JUPYTER = "/usr/bin/jupyter";
/** The Debian packages that provide them. */
export const JUPYTER_PACKAGES: readonly string[] = [
  "jupyter-client",
  "python3-nbclient",
  "jupyter-nbconvert",
  "jupyter-notebook",
];
/** The one line that installs them. */
export const APT_LINE = `apt-get update && apt-get install -y ${
  JUPYTER_PACKAGES.join(" ")
}`;

/**
 * Checks that Debian's Jupyter is usable.
 *
 * @returns `undefined` when it is, else what is missing.
 */
export async function missingJupyter(): Promise<string | undefined> {
  for (const path of [PYTHON, JUPYTER]) {
    try {
      await Deno.stat(path);
    } catch {
      return `${path} not found`;
    }
  }
  const probe = await new Deno.Command(PYTHON, {
    args: ["-c", "import jupyter_client, nbclient, nbconvert"],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!probe.success) {
    const why = new TextDecoder().decode(probe.stderr).trim().split("\n").pop();
    return `${PYTHON} cannot import jupyter_client/nbclient/nbconvert (${why})`;
  }
  return undefined;
}

/** Whether this process runs as root (so it may run apt-get itself). */
export function isRoot(): boolean {
  return Deno.uid?.() === 0;
}
