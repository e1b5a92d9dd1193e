/**
 * What the contenders need besides Deno, installed on demand: piscina and
 * workerpool (npm, into the gitignored `bench/.work/node`), IPython and
 * ipyparallel (Debian packages, for `/usr/bin/python3`). A contender whose
 * tool cannot be had is reported as unavailable, with the reason.
 *
 * @module
 */
import { PYTHON } from "./_contenders/external.ts";
import type { Requirement } from "./_scenario.ts";

/** Where things are, and why a requirement is missing (absent = present). */
export interface Setup {
  work: string;
  nodeModules?: string;
  missing: Partial<Record<Requirement, string>>;
}

const BENCH = new URL(".", import.meta.url).pathname;
const APT_PACKAGES = ["python3-ipython", "python3-ipyparallel"];

async function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<{ ok: boolean; output: string }> {
  try {
    const child = new Deno.Command(cmd, {
      args,
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { DEBIAN_FRONTEND: "noninteractive" },
    }).spawn();
    const timer = setTimeout(
      () => child.kill("SIGKILL"),
      options.timeoutMs ?? 300_000,
    );
    const out = await child.output();
    clearTimeout(timer);
    const output = new TextDecoder().decode(out.stdout) +
      new TextDecoder().decode(out.stderr);
    return { ok: out.success, output: output.trim() };
  } catch (error) {
    return { ok: false, output: (error as Error).message };
  }
}

function lastLine(text: string): string {
  return text.split("\n").filter(Boolean).at(-1)?.slice(0, 200) ?? "";
}

async function nodeSetup(
  work: string,
  install: boolean,
  log: (line: string) => void,
): Promise<{ nodeModules?: string; missing?: string }> {
  if (!(await run("node", ["--version"])).ok) return { missing: "no node" };
  const dir = `${work}/node`;
  const modules = `${dir}/node_modules`;
  const manifest = await Deno.readTextFile(`${BENCH}node/package.json`);
  const installed = await Deno.readTextFile(`${dir}/package.json`).catch(
    () => "",
  );
  const present = async (name: string) =>
    await Deno.stat(`${modules}/${name}/package.json`).then(
      () => true,
      () => false,
    );
  if (
    installed === manifest && await present("piscina") &&
    await present("workerpool")
  ) return { nodeModules: modules };
  if (!install) return { missing: "piscina and workerpool are not installed" };
  log("setup: npm install piscina workerpool into bench/.work/node");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/package.json`, manifest);
  const npm = await run("npm", [
    "install",
    "--no-audit",
    "--no-fund",
    "--no-package-lock",
  ], { cwd: dir, timeoutMs: 180_000 });
  if (!npm.ok) {
    return { missing: `npm install failed: ${lastLine(npm.output)}` };
  }
  return { nodeModules: modules };
}

async function pythonHas(module: string): Promise<boolean> {
  return (await run(PYTHON, ["-c", `import ${module}`])).ok;
}

async function pythonSetup(
  install: boolean,
  log: (line: string) => void,
): Promise<Partial<Record<Requirement, string>>> {
  const missing: Partial<Record<Requirement, string>> = {};
  const want = async () => ({
    ipython: await pythonHas("IPython.lib.backgroundjobs"),
    ipyparallel: await pythonHas("ipyparallel"),
  });
  let have = await want();
  if ((!have.ipython || !have.ipyparallel) && install) {
    if (Deno.uid?.() !== 0) {
      log(
        "setup: not root, so cannot apt-get install " + APT_PACKAGES.join(" "),
      );
    } else {
      log(`setup: apt-get install ${APT_PACKAGES.join(" ")}`);
      let apt = await run("apt-get", ["install", "-y", "-q", ...APT_PACKAGES]);
      if (!apt.ok) {
        await run("apt-get", ["update", "-q"]);
        apt = await run("apt-get", ["install", "-y", "-q", ...APT_PACKAGES]);
      }
      if (!apt.ok) log(`setup: apt-get failed: ${lastLine(apt.output)}`);
      have = await want();
    }
  }
  const how = `${PYTHON} cannot import it; apt-get install ${
    APT_PACKAGES.join(" ")
  }`;
  if (!have.ipython) missing.ipython = `IPython: ${how}`;
  if (!have.ipyparallel) missing.ipyparallel = `ipyparallel: ${how}`;
  return missing;
}

/**
 * Makes the scratch directory and installs what is missing.
 *
 * @param options `npm`: may run `npm install`; `apt`: may run `apt-get`.
 */
export async function setup(
  options: { npm: boolean; apt: boolean; log: (line: string) => void },
): Promise<Setup> {
  const work = `${BENCH}.work`;
  await Deno.mkdir(work, { recursive: true });
  const node = await nodeSetup(work, options.npm, options.log);
  const missing = await pythonSetup(options.apt, options.log);
  if (node.missing) missing.node = node.missing;
  return { work, nodeModules: node.nodeModules, missing };
}
