/**
 * Real-browser test harness, servers: a notebook frontend's server on
 * loopback with a token, the bgjobs kernelspec in a private `JUPYTER_PATH`
 * and config, data and runtime directories of its own, started in its own
 * process group and killed with everything it started. Three frontends:
 * Debian's classic Notebook 6.4, and JupyterLab 4 and Notebook 7 from the
 * venv of `tools/_prereq.ts`. The page side is in `./_notebook_page.ts`,
 * Chromium in `./_chromium.ts`.
 *
 * @module
 */
import { join } from "node:path";
import { installKernelspec } from "../kernel_ext/install.ts";
import {
  CLASSIC_NOTEBOOK,
  ensurePrerequisites,
  isRoot,
  venvCommand,
} from "../tools/_prereq.ts";
import { MOD_URL } from "./_kernel.ts";

/** The kernel name the notebook's metadata refers to. */
export const KERNEL_NAME = "bgjobs-browser";

/** A notebook frontend the browser tests drive. */
export interface Frontend {
  /** Short name, e.g. `lab`. */
  name: "classic" | "lab" | "notebook7";
  /** For test names, e.g. `JupyterLab 4`. */
  label: string;
  /** Whether it is built on JupyterLab (its DOM, its `window.jupyterapp`). */
  labBased: boolean;
  /** The server command. */
  command: string;
  /** Its arguments besides the address. */
  args(dir: string, token: string): string[];
  /** The URL path that opens a notebook of the served directory. */
  notebookPath(file: string): string;
}

// JupyterLab and Notebook 7: expose the app to the page (the tests drive it),
// fetch no news and check for no updates (only 127.0.0.1 is reachable).
const labServerArgs = (dir: string, token: string): string[] => [
  `--ServerApp.root_dir=${dir}`,
  `--IdentityProvider.token=${token}`,
  "--LabServerApp.expose_app_in_browser=True",
  "--LabApp.news_url=None",
  "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
  "--LabApp.extension_manager=readonly",
];

/** The frontends, by name. */
export const FRONTENDS: Readonly<Record<Frontend["name"], Frontend>> = {
  classic: {
    name: "classic",
    label: "classic Notebook 6.4",
    labBased: false,
    command: CLASSIC_NOTEBOOK,
    args: (dir, token) => [
      `--notebook-dir=${dir}`,
      `--NotebookApp.token=${token}`,
      "--NotebookApp.enable_mathjax=False",
    ],
    notebookPath: (file) => `/notebooks/${file}`,
  },
  lab: {
    name: "lab",
    label: "JupyterLab 4",
    labBased: true,
    command: venvCommand("jupyter-lab"),
    args: labServerArgs,
    notebookPath: (file) => `/lab/tree/${file}`,
  },
  notebook7: {
    name: "notebook7",
    label: "Notebook 7",
    labBased: true,
    command: venvCommand("jupyter-notebook"),
    args: labServerArgs,
    notebookPath: (file) => `/notebooks/${file}`,
  },
};

/**
 * JupyterLab settings for the tests: no news or update toasts over the
 * cells, and every cell in the DOM (no windowing), whatever its position.
 */
const LAB_SETTINGS: Record<string, unknown> = {
  "@jupyterlab/apputils-extension/notification": {
    fetchNews: "false",
    checkForUpdates: false,
  },
  "@jupyterlab/notebook-extension/tracker": { windowingMode: "none" },
};

/**
 * Makes sure the browser tests' tools are there (Debian's Notebook and
 * Chromium, the venv), installing what it may.
 *
 * @returns `undefined` when all is there, else why not, with the command
 * that installs it.
 */
export async function missingBrowserTools(): Promise<string | undefined> {
  const problems = await ensurePrerequisites();
  return problems.length === 0 ? undefined : problems.join("\n");
}

/** A running notebook server. */
export interface NotebookServer extends AsyncDisposable {
  /** The frontend it serves. */
  frontend: Frontend;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Its API token. */
  token: string;
  /** The directory it serves (notebooks go here). */
  dir: string;
  /** The URL that opens a notebook of {@linkcode dir}, with the token. */
  notebookUrl(file: string): string;
  /** Server output so far (for failure messages). */
  log(): string;
}

/**
 * Starts a frontend's server on a free loopback port with a fresh token, its
 * own config, runtime and data directories, and the bgjobs kernelspec as
 * {@linkcode KERNEL_NAME}. Its notebooks import bgjobs as `jsr:@x/bgjobs`,
 * mapped to this checkout by a `deno.json` beside them. Dispose it to shut
 * down its kernels and itself.
 *
 * @param frontend Which server.
 */
export async function startNotebookServer(
  frontend: Frontend,
): Promise<NotebookServer> {
  const root = await Deno.makeTempDir({ prefix: "bgjobs_browser_" });
  const dir = join(root, "notebooks");
  await Deno.mkdir(dir);
  await Deno.writeTextFile(
    join(dir, "deno.json"),
    JSON.stringify({ imports: { "jsr:@x/bgjobs": MOD_URL } }),
  );
  await installKernelspec({ dir: join(root, "jupyter/kernels", KERNEL_NAME) });
  if (frontend.labBased) {
    for (const [plugin, settings] of Object.entries(LAB_SETTINGS)) {
      const file = join(root, "config/lab/user-settings", plugin);
      await Deno.mkdir(join(file, ".."), { recursive: true });
      await Deno.writeTextFile(
        `${file}.jupyterlab-settings`,
        JSON.stringify(settings),
      );
    }
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const token = crypto.randomUUID().replaceAll("-", "");
  const child = new Deno.Command(frontend.command, {
    args: [
      "--no-browser",
      "--ip=127.0.0.1",
      `--port=${port}`,
      "--port-retries=0",
      ...frontend.args(dir, token),
      ...(isRoot() ? ["--allow-root"] : []),
    ],
    env: {
      JUPYTER_PATH: join(root, "jupyter"),
      JUPYTER_CONFIG_DIR: join(root, "config"),
      JUPYTER_DATA_DIR: join(root, "data"),
      JUPYTER_RUNTIME_DIR: join(root, "runtime"),
    },
    cwd: dir,
    detached: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const drain = (stream: ReadableStream<Uint8Array>): Promise<void> =>
    stream.pipeTo(
      new WritableStream({
        write(chunk): void {
          output = (output + decoder.decode(chunk)).slice(-32_000);
        },
      }),
    ).catch(() => {});
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const url = `http://127.0.0.1:${port}`;
  const server: NotebookServer = {
    frontend,
    url,
    token,
    dir,
    notebookUrl: (file) =>
      `${url}${frontend.notebookPath(file)}?token=${token}`,
    log: () => output,
    async [Symbol.asyncDispose](): Promise<void> {
      await shutdownKernels(url, token);
      await killGroup(child, 3000);
      await drained;
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
  try {
    await waitForServer(url, token, 30_000, child);
  } catch (error) {
    await server[Symbol.asyncDispose]();
    throw new Error(`${(error as Error).message}\n${output}`);
  }
  return server;
}

async function waitForServer(
  url: string,
  token: string,
  ms: number,
  child: Deno.ChildProcess,
): Promise<void> {
  let exited = false;
  child.status.then(() => exited = true);
  const end = Date.now() + ms;
  while (Date.now() < end && !exited) {
    try {
      const response = await fetch(`${url}/api/status?token=${token}`);
      await response.body?.cancel();
      if (response.ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    exited
      ? "the notebook server exited"
      : `the notebook server did not answer in ${ms} ms`,
  );
}

async function shutdownKernels(url: string, token: string): Promise<void> {
  try {
    const headers = { Authorization: `token ${token}` };
    const kernels = await (await fetch(`${url}/api/kernels`, { headers }))
      .json() as { id: string }[];
    await Promise.all(kernels.map(async ({ id }) => {
      const r = await fetch(`${url}/api/kernels/${id}`, {
        method: "DELETE",
        headers,
      });
      await r.body?.cancel();
    }));
  } catch { /* the server is gone already: killing its group is enough */ }
}

/** SIGTERM to a detached child's whole group, SIGKILL after `ms`. */
async function killGroup(child: Deno.ChildProcess, ms: number): Promise<void> {
  const signal = (s: Deno.Signal): void => {
    try {
      Deno.kill(-child.pid, s);
    } catch { /* already gone */ }
  };
  signal("SIGTERM");
  const timer = setTimeout(() => signal("SIGKILL"), ms);
  await child.status;
  clearTimeout(timer);
  signal("SIGKILL"); // whatever it started and left behind
}

/**
 * Writes a notebook of code cells that uses the {@linkcode KERNEL_NAME}
 * kernel. A notebook written with outputs is not signed: a frontend opens
 * it untrusted and sanitizes its HTML.
 *
 * @param path Where to write the `.ipynb`.
 * @param cells Each cell's source.
 * @param outputs Each cell's outputs, as HTML.
 */
export async function writeNotebook(
  path: string,
  cells: string[],
  outputs: string[][] = [],
): Promise<void> {
  const notebook = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: {
        name: KERNEL_NAME,
        display_name: "Deno (bgjobs)",
        language: "typescript",
      },
      language_info: { name: "typescript" },
    },
    cells: cells.map((source, i) => ({
      cell_type: "code",
      id: `cell-${i}`,
      metadata: {},
      execution_count: null,
      outputs: (outputs[i] ?? []).map((html) => ({
        output_type: "display_data",
        data: { "text/html": html, "text/plain": "" },
        metadata: {},
      })),
      source,
    })),
  };
  await Deno.writeTextFile(path, JSON.stringify(notebook, null, 1));
}
