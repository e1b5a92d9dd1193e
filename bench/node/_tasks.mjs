// deno-lint-ignore-file explicit-function-return-type -- plain JavaScript run by Node: no type syntax
// The work every Node contender runs: the same as the Deno contenders'.

/** The time now on the epoch clock, in ms (comparable across processes). */
export function stamp() {
  return performance.timeOrigin + performance.now();
}

/** A trivial item. */
export function double(x) {
  return x * 2;
}

/** A CPU-bound item: `n` rounds of integer arithmetic. */
export function cpu(n) {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 31 + i) % 1000003;
  return x;
}
