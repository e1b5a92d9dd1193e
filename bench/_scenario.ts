/**
 * What a bench scenario file declares: its cases (variants), its contenders,
 * and how many samples each takes. `bench/main.ts` runs the contenders of a
 * case in turn, round after round, each batch in a fresh process, or in a
 * cell of one real kernel for the case's kernel twin.
 *
 * @module
 */
import type { Batch, Tally } from "./_stats.ts";

/**
 * Where a case runs: a plain `deno run` script (each batch a fresh
 * process), or a real `deno jupyter` kernel (each batch a cell of one
 * kernel, as a notebook user runs it).
 */
export type Where = "script" | "kernel";

/** What a batch is asked to do; passed to the runner process as JSON. */
export interface RunContext {
  /** The variant, e.g. `"kill.busy"` (its kernel twin too). */
  variant: string;
  /** Where the batch runs. */
  where: Where;
  /** Samples to take in this batch. */
  n: number;
  /** `--quick`: fewer and smaller samples. */
  quick: boolean;
  /** Scratch directory (gitignored `bench/.work`). */
  work: string;
  /** Where `npm install` put piscina and workerpool (for Node contenders). */
  nodeModules?: string;
  /** The case's sizes (items, bytes …), from {@linkcode Variant.params}. */
  params: Record<string, number>;
}

/** One way of doing the work, measured against bgjobs. */
export interface Contender {
  /** Its name in the table, e.g. `"Deno Worker"`. */
  name: string;
  /** Measures in-process, inside `bench/_runner.ts` (a fresh Deno process). */
  run?: (ctx: RunContext) => Promise<Batch>;
  /** Or: the command line of an external runner (Node, Python). */
  command?: (ctx: RunContext) => string[];
  /** The cases it takes part in; all when absent. */
  variants?: string[];
  /** One process per sample (a contender that leaves threads spinning). */
  perSample?: boolean;
  /** What it needs from the setup: `"node"`, `"ipython"`, `"ipyparallel"`. */
  needs?: Requirement;
  /** ms a batch may take before it is stopped and counted as failed. */
  timeoutMs?: number;
  /** Where it can run. @default {both for `run`, the script for `command`} */
  where?: Where[];
}

/** Something a contender needs installed. */
export type Requirement = "node" | "ipython" | "ipyparallel";

/** One case of a scenario. */
export interface Variant {
  /** The case id, the record's `scenario`, e.g. `"kill.busy"` (the kernel
   * twin's is `"kill.busy.kernel"`). */
  id: string;
  /** Where its cases run. @default {["script"]} */
  where?: Where[];
  /** What the numbers are, e.g. `"ms from job() to user code running"`. */
  metric: string;
  /** The unit of the samples. @default {"ms"} */
  unit?: "ms" | "MB";
  /** Sizes every contender of the case uses, e.g. `{ items: 100_000 }`. */
  params?: (quick: boolean) => Record<string, number>;
  /** A case that does not fit the batch loop (a real kernel): runs itself. */
  custom?: (ctx: CustomContext) => Promise<Map<string, Tally>>;
  /** Extra fields of a record, from its tally. */
  derive?: (tally: Tally, quick: boolean) => Record<string, unknown>;
}

/** What a custom case gets. */
export interface CustomContext {
  quick: boolean;
  work: string;
  /** Reports progress on the terminal. */
  log(line: string): void;
}

/** A scenario file's default export. */
export interface Scenario {
  /** e.g. `"start"`. */
  id: string;
  /** One line on what it measures. */
  title: string;
  /** The file, so the runner can import it (`import.meta.url`). */
  url: string;
  variants: Variant[];
  contenders: Contender[];
  /** The bgjobs contender ratios are taken to. */
  reference: string;
  /** Rounds (each contender once per round) and samples per batch. */
  plan(quick: boolean): { rounds: number; perBatch: number };
}
