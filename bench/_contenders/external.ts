/**
 * Contenders that run outside Deno: piscina and workerpool under Node,
 * IPython's `BackgroundJobManager` and ipyparallel under Debian's Python
 * (`/usr/bin/python3`: the `python3` first on `PATH` may be another build
 * that cannot import Debian's packages). Each is a script that takes the
 * {@linkcode RunContext} as JSON and prints a `BENCH_RESULT` line.
 *
 * @module
 */
import type { Contender, RunContext } from "../_scenario.ts";

/** Debian's Python. */
export const PYTHON = "/usr/bin/python3";

function script(path: string): string {
  return new URL(`../${path}`, import.meta.url).pathname;
}

function nodeContender(
  name: string,
  file: string,
  variants: string[],
): Contender {
  return {
    name,
    variants,
    needs: "node",
    command: (ctx: RunContext) => [
      "node",
      script(`node/${file}`),
      JSON.stringify(ctx),
    ],
  };
}

function pythonContender(
  name: string,
  file: string,
  variants: string[],
  needs: "ipython" | "ipyparallel",
): Contender {
  return {
    name,
    variants,
    needs,
    command: (ctx: RunContext) => [
      PYTHON,
      script(`python/${file}`),
      JSON.stringify(ctx),
    ],
  };
}

/**
 * The external contenders, each in the cases it can do.
 *
 * @param variants The case ids (e.g. `"map.trivial"`) they take part in.
 */
export function externalContenders(variants: string[]): Contender[] {
  const ipp = pythonContender(
    "ipyparallel",
    "ipyparallel_bench.py",
    variants,
    "ipyparallel",
  );
  // Starting a cluster takes seconds: give its batches room.
  ipp.timeoutMs = 240_000;
  return [
    nodeContender("piscina (Node)", "piscina_bench.mjs", variants),
    nodeContender("workerpool (Node)", "workerpool_bench.mjs", variants),
    pythonContender(
      "IPython BackgroundJobManager",
      "ipython_bg.py",
      variants,
      "ipython",
    ),
    ipp,
  ];
}
