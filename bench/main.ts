/**
 * `deno task bench [--quick]`: bgjobs against the alternatives, side by side
 * in one run. Every case runs its contenders in turn, round after round
 * (rotating who goes first), each batch in a fresh process; then it prints
 * a table of medians, min/max and ratios to bgjobs, and writes
 * `bench/results.json` and `bench/RESULTS.md`.
 *
 * Flags: `--quick` (a smoke run, under 3 minutes: few, small samples, no
 * apt-get), `--only=start.plain,kill` (cases whose id starts so),
 * `--contenders=bgjobs,Worker` (contenders whose name contains one),
 * `--out=DIR` (where to write; default `bench/`), `--no-install`, `--update`
 * (with `--only`: re-run those cases into the run already in `--out`,
 * keeping its other records; the machine table says what was re-run when).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { runBatch } from "./_batch.ts";
import { benchKernel, type Kernel, kernelBatch } from "./_kernel.ts";
import {
  commitOf,
  describeMachine,
  loadAverage,
  type Machine,
} from "./_machine.ts";
import { addRatios, textTable, toRecord, writeMarkdown } from "./_report.ts";
import type { Report } from "./_report.ts";
import type {
  Contender,
  RunContext,
  Scenario,
  Variant,
  Where,
} from "./_scenario.ts";
import { type Setup, setup } from "./_setup.ts";
import {
  addBatch,
  type BenchRecord,
  newTally,
  rotate,
  type Tally,
} from "./_stats.ts";
import { verdicts } from "./_targets.ts";
import start from "./start.ts";
import kill from "./kill.ts";
import map from "./map.ts";
import transfer from "./transfer.ts";
import capture from "./capture.ts";
import responsive from "./responsive.ts";
import memory from "./memory.ts";
import cluster from "./cluster.ts";
import durable from "./durable.ts";
import many from "./many.ts";
import e2e from "./e2e.ts";

/** Every scenario, in the order they run. */
export const SCENARIOS: Scenario[] = [
  start,
  kill,
  map,
  transfer,
  e2e,
  many,
  capture,
  responsive,
  memory,
  cluster,
  durable,
];

/** What `main` was asked to do. */
export interface BenchOptions {
  quick: boolean;
  only: string[];
  contenders: string[];
  out: string;
  install: boolean;
  /** Re-run the `only` cases into the run kept in `out`. */
  update?: boolean;
}

function log(line: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
}

function wanted(options: BenchOptions, variant: Variant): boolean {
  return options.only.length === 0 ||
    options.only.some((prefix) => variant.id.startsWith(prefix));
}

function picks(options: BenchOptions, name: string): boolean {
  return options.contenders.length === 0 ||
    options.contenders.some((part) => name.includes(part));
}

/** Where a contender can run: anywhere in Deno, the script for others. */
function runsIn(contender: Contender, where: Where): boolean {
  const can = contender.where ?? (contender.run ? ["script", "kernel"] : [
    "script",
  ]);
  return can.includes(where);
}

/**
 * The cases of a variant: its script case, and its kernel twin (id
 * `….kernel`) where it has one, each as the variant records name it.
 */
export function casesOf(variant: Variant): { where: Where; case: Variant }[] {
  return (variant.where ?? ["script"]).map((where) => ({
    where,
    case: where === "script" ? variant : {
      ...variant,
      id: `${variant.id}.kernel`,
      metric: `${variant.metric}, in a real Deno kernel`,
    },
  }));
}

async function runCase(
  scenario: Scenario,
  variant: Variant,
  where: Where,
  options: BenchOptions,
  env: Setup,
): Promise<Map<string, Tally>> {
  if (variant.custom) {
    const all = await variant.custom({
      quick: options.quick,
      work: env.work,
      log,
    });
    return new Map([...all].filter(([name]) => picks(options, name)));
  }
  const tallies = new Map<string, Tally>();
  const runnable: Contender[] = [];
  // One kernel for the whole case: its batches are cells, one after another.
  const kernel: Kernel | string | undefined = where === "kernel"
    ? await benchKernel()
    : undefined;
  for (const c of scenario.contenders) {
    if (c.variants && !c.variants.includes(variant.id)) continue;
    if (!runsIn(c, where) || !picks(options, c.name)) continue;
    const tally = newTally();
    tallies.set(c.name, tally);
    const missing = typeof kernel === "string"
      ? kernel
      : c.needs && env.missing[c.needs];
    if (missing) {
      addBatch(tally, { samples: [], outcome: "unavailable", note: missing });
    } else runnable.push(c);
  }
  const label = where === "kernel" ? `${variant.id}.kernel` : variant.id;
  const { rounds, perBatch } = scenario.plan(options.quick);
  try {
    for (let round = 0; round < rounds; round++) {
      for (const c of rotate(runnable, round)) {
        log(`${label}: ${c.name} (round ${round + 1}/${rounds})`);
        const ctx: RunContext = {
          variant: variant.id,
          where,
          n: c.perSample ? 1 : perBatch,
          quick: options.quick,
          work: env.work,
          nodeModules: env.nodeModules,
          params: variant.params?.(options.quick) ?? {},
        };
        const times = c.perSample ? perBatch : 1;
        for (let i = 0; i < times; i++) {
          const batch = typeof kernel === "object"
            ? await kernelBatch(kernel, scenario, c, ctx)
            : await runBatch(scenario, c, ctx);
          addBatch(tallies.get(c.name)!, batch);
        }
      }
    }
  } finally {
    if (typeof kernel === "object") await kernel.shutdown();
  }
  return tallies;
}

/**
 * Runs the bench.
 *
 * @returns The records written to `results.json`.
 */
export async function main(options: BenchOptions): Promise<BenchRecord[]> {
  const started = performance.now();
  const machine = await describeMachine();
  // apt-get takes a minute: not in a quick run (npm takes seconds).
  const env = await setup({
    npm: options.install,
    apt: options.install && !options.quick,
    log,
  });
  const cases: Report["cases"] = [];
  const records: BenchRecord[] = [];
  const earlier = options.update ? await readEarlier(options.out) : undefined;
  for (const scenario of SCENARIOS) {
    for (const variant of scenario.variants) {
      for (const { where, case: kase } of casesOf(variant)) {
        if (!wanted(options, kase)) continue;
        const load = loadAverage();
        const tallies = await runCase(scenario, variant, where, options, env);
        const caseRecords = [...tallies].map(([name, tally]) => ({
          ...toRecord(kase, name, tally, options.quick),
          load_1m: load,
        }));
        addRatios(caseRecords, scenario.reference);
        records.push(...caseRecords);
        cases.push({
          variant: kase,
          title: scenario.title,
          records: caseRecords,
        });
        console.log(textTable(
          `${kase.id} — ${kase.metric} (load ${load})`,
          kase.unit ?? "ms",
          caseRecords,
        ));
      }
    }
  }
  machine.load_end = loadAverage();
  const commitEnd = await commitOf();
  if (commitEnd !== machine.commit) machine.commit_end = commitEnd;
  if (earlier) {
    // The cases not run now keep the earlier run's records, in run order.
    const now = new Set(records.map((r) => r.scenario));
    const kept = earlier.records.filter((r) => !now.has(r.scenario));
    const keptCases = casesOfRecords(kept);
    cases.unshift(...keptCases);
    records.unshift(...kept);
    // Every update is listed, after the run they all went into.
    const base = earlier.machine.updated ??
      `the run of ${
        earlier.machine.date.slice(0, 16)
      } (bgjobs ${earlier.machine.commit}${
        earlier.machine.commit_end ? ` to ${earlier.machine.commit_end}` : ""
      })`;
    machine.updated = `${base}; ${[...now].join(", ")} re-run on ${
      machine.date.slice(0, 16)
    } (bgjobs ${machine.commit})`;
  }
  const checked = verdicts(records, options.quick);
  console.log("\nTargets");
  for (const v of checked) {
    console.log(`  ${v.verdict.padEnd(12)} ${v.target}: ${v.measured}`);
  }
  await Deno.mkdir(options.out, { recursive: true });
  await Deno.writeTextFile(
    `${options.out}/results.json`,
    JSON.stringify({ machine, quick: options.quick, records }, null, 2) + "\n",
  );
  const command = `deno task bench${options.quick ? " --quick" : ""}`;
  await writeMarkdown(`${options.out}/RESULTS.md`, {
    machine,
    quick: options.quick,
    command,
    durationS: (performance.now() - started) / 1000,
    cases,
    verdicts: checked,
  });
  log(
    `wrote ${options.out}/results.json and RESULTS.md in ${
      ((performance.now() - started) / 1000).toFixed(0)
    } s`,
  );
  return records;
}

/** The records and machine of the run in `out`, for `--update`. */
async function readEarlier(
  out: string,
): Promise<{ machine: Machine; records: BenchRecord[] }> {
  try {
    return JSON.parse(await Deno.readTextFile(`${out}/results.json`));
  } catch (error) {
    throw new Error(
      `--update needs an earlier run in ${out}: ${(error as Error).message}`,
    );
  }
}

/** Earlier records as cases of the report, found by their case ids. */
function casesOfRecords(records: BenchRecord[]): Report["cases"] {
  const out: Report["cases"] = [];
  for (const scenario of SCENARIOS) {
    for (const variant of scenario.variants) {
      for (const { case: kase } of casesOf(variant)) {
        const mine = records.filter((r) => r.scenario === kase.id);
        if (mine.length) {
          out.push({ variant: kase, title: scenario.title, records: mine });
        }
      }
    }
  }
  return out;
}

/** Reads the command line. */
export function parseOptions(args: string[]): BenchOptions {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string", default: "" },
      contenders: { type: "string", default: "" },
      out: { type: "string", default: new URL(".", import.meta.url).pathname },
      "no-install": { type: "boolean", default: false },
      update: { type: "boolean", default: false },
    },
  });
  const list = (text: string) =>
    text.split(",").map((s) => s.trim()).filter(Boolean);
  return {
    quick: values.quick,
    only: list(values.only),
    contenders: list(values.contenders),
    out: values.out.replace(/\/$/, ""),
    install: !values["no-install"],
    update: values.update,
  };
}

if (import.meta.main) {
  await main(parseOptions(Deno.args));
  Deno.exit(0);
}
