/**
 * Real-browser test harness: Debian's classic Jupyter Notebook server on
 * loopback with a token and the bgjobs kernelspec in a private
 * `JUPYTER_PATH`, started in its own process group and killed with
 * everything it started. Chromium is in `./_chromium.ts`.
 *
 * @module
 */
import { installKernelspec } from "../kernel_ext/install.ts";
import { isRoot } from "../tools/_prereq.ts";
import { CHROMIUM } from "./_chromium.ts";

/** Debian's classic Notebook server. */
export const NOTEBOOK = "/usr/bin/jupyter-notebook";
/** The line that installs both. */
export const BROWSER_APT_LINE =
  "apt-get update && apt-get install -y jupyter-notebook chromium";
/** The kernel name the notebook's metadata refers to. */
export const KERNEL_NAME = "bgjobs-browser";

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/**
 * Makes sure the Notebook server and Chromium are there, installing them
 * with apt when running as root.
 *
 * @returns `undefined` when both are usable, else why not (with the apt line).
 */
export async function missingBrowserTools(): Promise<string | undefined> {
  const missing = async (): Promise<string[]> => {
    const out = [];
    for (const path of [NOTEBOOK, CHROMIUM]) {
      if (!await exists(path)) out.push(path);
    }
    return out;
  };
  let absent = await missing();
  if (absent.length > 0 && isRoot()) {
    await new Deno.Command("sh", {
      args: ["-c", BROWSER_APT_LINE],
      env: { DEBIAN_FRONTEND: "noninteractive" },
    }).output();
    absent = await missing();
  }
  return absent.length === 0
    ? undefined
    : `${absent.join(" and ")} not found; run ${BROWSER_APT_LINE} as root`;
}

/** A running Notebook server. */
export interface NotebookServer extends AsyncDisposable {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Its API token. */
  token: string;
  /** The directory it serves (notebooks go here). */
  dir: string;
  /** Server output so far (for failure messages). */
  log(): string;
}

/**
 * Starts `jupyter notebook` on a free loopback port with a fresh token, its
 * own config, runtime and data directories, and the bgjobs kernelspec as
 * {@linkcode KERNEL_NAME}. Dispose it to shut down its kernels and itself.
 */
export async function startNotebookServer(): Promise<NotebookServer> {
  const root = await Deno.makeTempDir({ prefix: "bgjobs_browser_" });
  const dir = `${root}/notebooks`;
  await Deno.mkdir(dir);
  await installKernelspec({ dir: `${root}/jupyter/kernels/${KERNEL_NAME}` });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const token = crypto.randomUUID().replaceAll("-", "");
  const child = new Deno.Command(NOTEBOOK, {
    args: [
      "--no-browser",
      "--ip=127.0.0.1",
      `--port=${port}`,
      "--port-retries=0",
      `--notebook-dir=${dir}`,
      `--NotebookApp.token=${token}`,
      "--NotebookApp.enable_mathjax=False",
      ...(isRoot() ? ["--allow-root"] : []),
    ],
    env: {
      JUPYTER_PATH: `${root}/jupyter`,
      JUPYTER_CONFIG_DIR: `${root}/config`,
      JUPYTER_DATA_DIR: `${root}/data`,
      JUPYTER_RUNTIME_DIR: `${root}/runtime`,
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
    url,
    token,
    dir,
    log: () => output,
    async [Symbol.asyncDispose](): Promise<void> {
      await shutdownKernels(url, token);
      await killGroup(child, 3000);
      await drained;
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
  try {
    await waitForServer(url, token, 20_000, child);
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
      ? "the Notebook server exited"
      : `the Notebook server did not answer in ${ms} ms`,
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
 * kernel.
 *
 * @param path Where to write the `.ipynb`.
 * @param cells Each cell's source.
 */
export async function writeNotebook(
  path: string,
  cells: string[],
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
      outputs: [],
      source,
    })),
  };
  await Deno.writeTextFile(path, JSON.stringify(notebook, null, 1));
}
