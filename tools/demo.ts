/**
 * `deno task demo [notebook.ipynb…]`: runs `examples/quickstart.ipynb` and
 * `examples/crawl.ipynb` (or the notebooks given) headlessly in a real Deno kernel and prints each cell's
 * source, outputs and run time.
 *
 * It installs the kernelspec into a temporary `JUPYTER_PATH` (never the
 * user's kernels), executes it with nbclient (as `jupyter nbconvert --execute`
 * does, but keeping outputs the Deno kernel sends just after a cell's idle
 * status, and live-panel updates for a second after the last cell), and
 * writes the executed notebook to a temporary directory, leaving the example
 * as it is.
 * Debian's Jupyter is needed; as root with apt it is installed, otherwise the
 * apt line is printed.
 *
 * @module
 */
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { installKernelspec } from "../kernel_ext/install.ts";
import { ensurePrerequisites, PYTHON } from "./_prereq.ts";

const KERNEL = "bgjobs-deno";
const DEFAULT_NOTEBOOKS = ["quickstart.ipynb", "crawl.ipynb"].map((name) =>
  fileURLToPath(new URL(`../examples/${name}`, import.meta.url))
);
/** nbclient runner that also keeps late outputs and display updates. */
const EXECUTE = fileURLToPath(
  new URL("./_execute_notebook.py", import.meta.url),
);

// deno-lint-ignore no-control-regex
const stripAnsi = (text: string): string => text.replace(/\x1b\[[0-9;]*m/g, "");

async function ensureJupyter(): Promise<boolean> {
  const problems = await ensurePrerequisites({ browsers: false });
  for (const problem of problems) console.error(`The demo needs ${problem}`);
  return problems.length === 0;
}

async function execute(notebook: string, outDir: string): Promise<string> {
  const jupyterPath = join(outDir, "jupyter");
  await installKernelspec({ dir: join(jupyterPath, "kernels", KERNEL) });
  const output = join(
    outDir,
    basename(notebook).replace(/\.ipynb$/, ".executed.ipynb"),
  );
  const result = await new Deno.Command(PYTHON, {
    args: [EXECUTE, notebook, output, `--kernel=${KERNEL}`, "--linger=1"],
    env: { JUPYTER_PATH: jupyterPath, JUPYTER_DATA_DIR: join(outDir, "data") },
    stdin: "null",
  }).output();
  if (!result.success) {
    const stderr = new TextDecoder().decode(result.stderr);
    throw new Error(`Executing the notebook failed:\n${stderr.trim()}`);
  }
  return output;
}

// deno-lint-ignore no-explicit-any
type Output = Record<string, any>;

function describeOutput(output: Output): string {
  const label: Record<string, string> = {
    stream: output.name,
    execute_result: "value",
    display_data: "display",
    error: "error",
  };
  const text = output.output_type === "stream"
    ? joinText(output.text)
    : output.output_type === "error"
    ? `${output.ename}: ${output.evalue}`
    : joinText(
      output.data?.["text/plain"] ?? Object.keys(output.data ?? {}).join(", "),
    );
  const lines = stripAnsi(text).replace(/\n$/, "").split("\n");
  const head = `${label[output.output_type] ?? output.output_type}:`.padEnd(9);
  return lines.map((line, i) =>
    `      ${i === 0 ? head : " ".repeat(9)}${line}`
  )
    .join("\n");
}

function joinText(text: string | string[]): string {
  return Array.isArray(text) ? text.join("") : text;
}

function cellTime(cell: Output): string {
  const timing = cell.metadata?.execution ?? {};
  const start = Date.parse(timing["iopub.execute_input"]);
  const end = Date.parse(timing["shell.execute_reply"]);
  return Number.isNaN(start + end)
    ? "   ? ms"
    : `${String(end - start).padStart(4)} ms`;
}

/** Prints each code cell and returns how many raised an error. */
function report(notebook: Output): number {
  let errors = 0;
  for (const cell of notebook.cells) {
    if (cell.cell_type !== "code") continue;
    const source = joinText(cell.source).trim().split("\n");
    const shown = source[0].slice(0, 60) + (source.length > 1 ? " …" : "");
    console.log(`[${cell.execution_count ?? " "}] ${cellTime(cell)}  ${shown}`);
    for (const output of cell.outputs) {
      if (output.output_type === "error") errors++;
      console.log(describeOutput(output));
    }
  }
  return errors;
}

async function runNotebook(path: string): Promise<number> {
  const notebook = resolve(path);
  const outDir = await Deno.makeTempDir({ prefix: "bgjobs_demo_" });
  console.log(
    `Deno ${Deno.version.deno}; running ${notebook} in a real kernel…\n`,
  );
  const started = Date.now();
  let executed: string;
  try {
    executed = await execute(notebook, outDir);
  } catch (error) {
    console.error((error as Error).message);
    return 1;
  }
  // Keep only the executed notebook: the kernelspec was for this run alone.
  for (const dir of ["jupyter", "data"]) {
    await Deno.remove(join(outDir, dir), { recursive: true }).catch(() => {});
  }
  const errors = report(JSON.parse(await Deno.readTextFile(executed)));
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `\n${errors} cell error(s); ${seconds} s including kernel start.`,
  );
  console.log(`Executed notebook: ${executed}\n`);
  return errors;
}

async function main(args: string[]): Promise<number> {
  if (!(await ensureJupyter())) return 1;
  let errors = 0;
  for (const path of args.length ? args : DEFAULT_NOTEBOOKS) {
    errors += await runNotebook(path);
  }
  return errors === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
