/**
 * Turns tallies into records (`bench/results.json`), a terminal table and
 * `bench/RESULTS.md`. Ratios are taken to the case's bgjobs contender:
 * `× bgjobs` above 1 means the contender took that many times longer (or
 * more memory) than bgjobs.
 *
 * @module
 */
import type { Machine } from "./_machine.ts";
import type { Variant } from "./_scenario.ts";
import {
  type BenchRecord,
  median,
  round,
  summary,
  type Tally,
} from "./_stats.ts";
import type { Verdict } from "./_targets.ts";

/** Makes the record of one contender in one case. */
export function toRecord(
  variant: Variant,
  contender: string,
  tally: Tally,
  quick: boolean,
): BenchRecord {
  const s = summary(tally.samples);
  const unit = variant.unit ?? "ms";
  const record: BenchRecord = {
    scenario: variant.id,
    contender,
    metric: variant.metric,
    outcome: tally.samples.length === 0 && tally.outcome === "ok"
      ? "failed"
      : tally.outcome,
    median_ms: unit === "ms" ? s.median : null,
    p90_ms: unit === "ms" ? s.p90 : null,
    min_ms: unit === "ms" ? s.min : null,
    max_ms: unit === "ms" ? s.max : null,
    n: tally.samples.length,
  };
  if (unit === "MB") {
    record.median_mb = s.median;
    record.p90_mb = s.p90;
    record.min_mb = s.min;
    record.max_mb = s.max;
  }
  for (const [key, values] of Object.entries(tally.extra)) {
    record[key] = round(median(values));
  }
  Object.assign(record, tally.info);
  for (
    const [key, value] of Object.entries(variant.derive?.(tally, quick) ?? {})
  ) {
    if (value === null) delete record[key];
    else if (value !== undefined) {
      record[key] = typeof value === "number" ? round(value) : value;
    }
  }
  if (tally.notes.length) record.note = tally.notes.join("; ");
  return record;
}

/** The value ratios compare: the median, in the case's unit. */
export function valueOf(record: BenchRecord): number | null {
  return (record.median_ms ?? record.median_mb ?? null) as number | null;
}

/** Adds `ratio_to_bgjobs` to each record of a case. */
export function addRatios(records: BenchRecord[], reference: string): void {
  const ref = records.find((r) => r.contender === reference);
  const base = ref ? valueOf(ref) : null;
  for (const record of records) {
    const value = valueOf(record);
    record.ratio_to_bgjobs =
      base && value !== null && record.outcome !== "unavailable"
        ? round(value / base)
        : null;
  }
}

function fmt(value: unknown): string {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** Fields of a record shown in the "details" column. */
const HIDDEN = new Set([
  "scenario",
  "contender",
  "metric",
  "outcome",
  "median_ms",
  "p90_ms",
  "min_ms",
  "max_ms",
  "median_mb",
  "p90_mb",
  "min_mb",
  "max_mb",
  "n",
  "ratio_to_bgjobs",
  "note",
  "load_1m",
]);

function details(record: BenchRecord): string {
  const parts = Object.entries(record)
    .filter(([key, value]) => !HIDDEN.has(key) && value !== null)
    .map(([key, value]) => `${key}=${fmt(value)}`);
  if (record.outcome !== "ok") parts.unshift(`**${record.outcome}**`);
  if (record.note) parts.push(String(record.note));
  return parts.join(", ");
}

/** Rows of a case as cells: contender, median, p90, min, max, n, × bgjobs, details. */
function rows(records: BenchRecord[]): string[][] {
  return records.map((r) => {
    const mb = r.median_ms === null && r.median_mb !== undefined;
    const get = (k: string) => fmt(r[mb ? `${k}_mb` : `${k}_ms`]);
    return [
      r.contender,
      get("median"),
      get("p90"),
      get("min"),
      get("max"),
      String(r.n),
      fmt(r.ratio_to_bgjobs),
      details(r),
    ];
  });
}

/** The index of the details column. */
const DETAILS = 7;

/** The column heads of a case's table. */
function headCells(unit: string): string[] {
  return [
    "contender",
    `median ${unit}`,
    "p90",
    "min",
    "max",
    "n",
    "× bgjobs",
    "details",
  ];
}

/** A plain-text table of one case, for the terminal. */
export function textTable(
  title: string,
  unit: string,
  records: BenchRecord[],
): string {
  const head = headCells(unit);
  const body = rows(records);
  const widths = head.map((h, i) =>
    i === DETAILS ? 0 : Math.max(h.length, ...body.map((r) => r[i].length))
  );
  const line = (cells: string[]) =>
    cells.map((c, i) =>
      i === DETAILS ? c : i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])
    )
      .join("  ");
  return [`\n${title}`, line(head), ...body.map(line)].join("\n");
}

function markdownTable(unit: string, records: BenchRecord[]): string {
  const head = headCells(unit);
  const escape = (c: string) => c.replaceAll("|", "\\|");
  return [
    `| ${head.join(" | ")} |`,
    `|${
      head.map((_, i) => i === 0 || i === DETAILS ? "---" : "---:").join("|")
    }|`,
    ...rows(records).map((r) => `| ${r.map(escape).join(" | ")} |`),
  ].join("\n");
}

/** Whether a case ran in a real kernel. */
export function inKernel(id: string): boolean {
  return id.endsWith(".kernel");
}

/** Kernel cases first, each group in run order. */
function byPlace<T extends { variant: Variant }>(cases: T[]): T[] {
  return [
    ...cases.filter((c) => inKernel(c.variant.id)),
    ...cases.filter((c) => !inKernel(c.variant.id)),
  ];
}

const ANALYSIS_START = "<!-- analysis: kept across runs -->";
const ANALYSIS_END = "<!-- /analysis -->";

/** What `RESULTS.md` is made from. */
export interface Report {
  machine: Machine;
  quick: boolean;
  command: string;
  durationS: number;
  cases: { variant: Variant; title: string; records: BenchRecord[] }[];
  verdicts: Verdict[];
}

/**
 * Writes `RESULTS.md`, keeping the hand-written analysis section of the
 * file already there.
 */
export async function writeMarkdown(
  path: string,
  report: Report,
): Promise<void> {
  const old = await Deno.readTextFile(path).catch(() => "");
  const kept = old.includes(ANALYSIS_START) && old.includes(ANALYSIS_END)
    ? old.slice(
      old.indexOf(ANALYSIS_START),
      old.indexOf(ANALYSIS_END) + ANALYSIS_END.length,
    )
    : `${ANALYSIS_START}\n## Analysis\n\n(none yet)\n${ANALYSIS_END}`;
  const m = report.machine;
  const lines = [
    "# bgjobs benchmarks",
    "",
    `Generated by \`${report.command}\` on ${m.date} in ${
      report.durationS.toFixed(0)
    } s` +
    (report.quick
      ? " — **quick mode: few, small samples; do not read timings from it**."
      : "."),
    "",
    "## Machine",
    "",
    `| | |`,
    `|---|---|`,
    `| CPU | ${m.cpu} |`,
    `| cores | ${m.cores} |`,
    `| memory | ${m.memory_gb} GB |`,
    `| OS | ${m.os} |`,
    `| Deno | ${m.deno} |`,
    `| Node | ${m.node} |`,
    `| Python | ${m.python} |`,
    `| bgjobs measured | ${m.commit}${
      m.commit_end
        ? ` at the start, ${m.commit_end} at the end (lib/ changed during the run)`
        : ""
    } |`,
    `| 50 MiB of fresh memory: first touch / a copy once touched | ${m.fresh_50mib_ms} ms / ${m.copy_50mib_ms} ms (big results cost mostly the first) |`,
    ...(m.updated ? [`| updated | ${m.updated} |`] : []),
    `| load average (1 min) at start / end | ${m.load_start} / ${
      m.load_end ?? "?"
    } (a shared machine: other work ran meanwhile) |`,
    "",
    "Every contender ran in the same run, alternating: each round runs one batch of every contender of a case, in rotated order, each batch in a fresh process (a case whose id ends in `.kernel`: in a cell of one real `deno jupyter` kernel, as a notebook runs it). `× bgjobs` is the contender's median over bgjobs' median (above 1: bgjobs is faster or smaller). p90, min and max are over all samples. Kernel cases come first: that is where users are.",
    "",
    "## Targets",
    "",
    "| target | measured | verdict |",
    "|---|---|---|",
    ...report.verdicts.map((v) =>
      `| ${v.target} | ${v.measured} | ${
        v.verdict === "met"
          ? "met"
          : v.verdict === "missed"
          ? "**MISSED**"
          : v.verdict
      } |`
    ),
    "",
    kept,
    "",
    "## Results",
    "",
  ];
  for (const c of byPlace(report.cases)) {
    lines.push(
      `### \`${c.variant.id}\` — ${c.title}`,
      "",
      `${c.variant.metric}. Load average (1 min) when the case began: ${
        c.records[0]?.load_1m ?? "?"
      }.`,
      "",
    );
    lines.push(markdownTable(c.variant.unit ?? "ms", c.records), "");
  }
  await Deno.writeTextFile(path, lines.join("\n"));
}
