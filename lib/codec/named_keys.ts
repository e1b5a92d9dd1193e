// An array's named properties (a RegExp match's `index`, d3's `columns`)
// travel with it, as structured clone keeps them. `Object.keys()` lists
// them after a string for every index: ~40 ms for 200,000 rows here, before
// a big table's first chunk can go. `Deno.inspect()` showing no items lists
// only the other keys (V8 collects them without the indices, and reads no
// getter), so an array it shows as nothing but its count has none; any
// other answer is checked the slow way.

import { denoCore } from "./deno_core.ts";

const INSPECT: Deno.InspectOptions = { iterableLimit: 0, depth: 0 };

/** Arrays shorter than this are listed the plain way (under a millisecond). */
const QUICK_MIN = 4096;

// Code that would run in place of the inspection, and make its text.
const CUSTOM = [
  Symbol.for("Deno.customInspect"),
  Symbol.for("Deno.privateCustomInspect"),
  Symbol.for("nodejs.util.inspect.custom"),
];

type IsProxy = (value: unknown) => boolean;

// A proxy is inspected as its target, not through its traps: for one, the
// keys are listed the plain way. Where this Deno cannot tell, always.
function proxyTest(): IsProxy | undefined {
  const core = denoCore();
  const test = core?.isProxy;
  return typeof test === "function"
    ? (value) => test.call(core, value) === true
    : undefined;
}

let isProxy: IsProxy | null | undefined;

function nothingNamed(v: unknown[]): boolean {
  isProxy ??= proxyTest() ?? null;
  if (isProxy === null || isProxy(v) || CUSTOM.some((s) => s in v)) {
    return false;
  }
  return Deno.inspect(v, INSPECT) === `[ ... ${v.length} more items ]`;
}

/**
 * An array's own enumerable string keys that are not indices, in order.
 *
 * @param v The array.
 * @returns Its named keys (none for most arrays).
 */
export function namedKeys(v: unknown[]): string[] {
  if (v.length >= QUICK_MIN && nothingNamed(v)) return [];
  const keys = Object.keys(v);
  // V8 lists the indices first.
  let first = keys.length;
  while (first > 0 && !isIndex(keys[first - 1])) first--;
  return keys.slice(first);
}

function isIndex(key: string): boolean {
  const n = Number(key);
  return Number.isInteger(n) && n >= 0 && n < 2 ** 32 - 1 && String(n) === key;
}
