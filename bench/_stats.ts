/**
 * Numbers for the bench: what one batch of samples looks like, how batches
 * add up, and the record written to `bench/results.json`.
 *
 * @module
 */

/** How a contender fared in a case besides its numbers. */
export type Outcome =
  | "ok"
  | "never stops"
  | "incomplete"
  | "not implemented"
  | "unavailable"
  | "failed";

/** What one run of a contender (a batch of samples) reports. */
export interface Batch {
  /** The measured values, in the scenario's unit. */
  samples: number[];
  /** More measured series (e.g. `kill_resolved_ms`), each one value a sample. */
  extra?: Record<string, number[]>;
  /** Facts about the run that are not series (e.g. `items`). */
  info?: Record<string, number | string | boolean>;
  /** `"ok"` unless the contender could not do what was asked. */
  outcome?: Outcome;
  /** What happened, for the table (e.g. "thread spins on at 100% CPU"). */
  note?: string;
}

/** All batches of one contender in one case, added up. */
export interface Tally {
  samples: number[];
  extra: Record<string, number[]>;
  info: Record<string, number | string | boolean>;
  outcome: Outcome;
  notes: string[];
}

/** One line of `bench/results.json`: a scenario case and a contender. */
export interface BenchRecord {
  /** The case, e.g. `"start.plain"` or `"kill.busy"`. */
  scenario: string;
  /** Who ran it, e.g. `"bgjobs (warm)"`. */
  contender: string;
  /** What the numbers measure. */
  metric: string;
  /** `"ok"`, or why the numbers are missing or mean something else. */
  outcome: Outcome;
  /** Median, 90th percentile, min and max in ms; `null` when the unit is
   * not time or there are none. */
  median_ms: number | null;
  p90_ms: number | null;
  min_ms: number | null;
  max_ms: number | null;
  /** Samples taken. */
  n: number;
  /** Anything else measured (medians of extra series, ratios, sizes). */
  [field: string]: unknown;
}

/** An empty tally. */
export function newTally(): Tally {
  return { samples: [], extra: {}, info: {}, outcome: "ok", notes: [] };
}

const OUTCOME_RANK: Outcome[] = [
  "ok",
  "incomplete",
  "never stops",
  "failed",
  "not implemented",
  "unavailable",
];

/** Adds a batch to a tally; the worst outcome wins, notes are kept once. */
export function addBatch(tally: Tally, batch: Batch): void {
  tally.samples.push(...batch.samples);
  for (const [key, values] of Object.entries(batch.extra ?? {})) {
    (tally.extra[key] ??= []).push(...values);
  }
  Object.assign(tally.info, batch.info ?? {});
  const outcome = batch.outcome ?? "ok";
  if (OUTCOME_RANK.indexOf(outcome) > OUTCOME_RANK.indexOf(tally.outcome)) {
    tally.outcome = outcome;
  }
  if (batch.note && !tally.notes.includes(batch.note)) {
    tally.notes.push(batch.note);
  }
}

/** The median of `values` (`NaN` when empty). */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** The `q` quantile of `values`, interpolated (`NaN` when empty). */
export function quantile(values: readonly number[], q: number): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

/** Rounds for JSON: 3 significant decimals are plenty for a bench. */
export function round(value: number): number | null {
  if (!Number.isFinite(value)) return null;
  const digits = Math.abs(value) >= 100 ? 1 : Math.abs(value) >= 1 ? 2 : 4;
  return Number(value.toFixed(digits));
}

/** Min, median, 90th percentile and max of a series, rounded (`null`s when empty). */
export function summary(
  values: readonly number[],
): {
  median: number | null;
  p90: number | null;
  min: number | null;
  max: number | null;
} {
  const finite = values.filter(Number.isFinite);
  return {
    median: round(median(finite)),
    p90: round(quantile(finite, 0.9)),
    min: round(finite.length ? Math.min(...finite) : NaN),
    max: round(finite.length ? Math.max(...finite) : NaN),
  };
}

/** `performance.now()` on the epoch clock, comparable across processes. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `list` rotated by `by` places, so each contender goes first in turn. */
export function rotate<T>(list: readonly T[], by: number): T[] {
  if (list.length === 0) return [];
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}
