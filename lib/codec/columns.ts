// The fast path for the most common big value, an array of flat records
// (`[{ id: 1, name: "a" }, …]`): sent as one column per key, numbers as a
// Float64Array, and rebuilt on the other side by a function generated for
// that set of keys. Copying a record this way costs a few field loads, far
// less than serializing each object on its own.

/** Arrays shorter than this are not worth a generated function. */
export const TABLE_MIN = 64;
const MAX_KEYS = 64;

/** An array of records as columns. */
export interface Columns {
  /** The keys of every record, in order. */
  keys: string[];
  /** One column per key: a Float64Array when all numbers, else an array. */
  cols: (Float64Array | unknown[])[];
  /** How many records. */
  n: number;
}

/** What {@linkcode toColumns} found: the columns, and which hold objects. */
export interface Extracted extends Columns {
  /** Per column: it holds objects, which the caller still has to encode. */
  nested: boolean[];
  /** Per column: it holds strings only. */
  strings: boolean[];
  /**
   * A column of numbers only rises or only falls, row after row: no row is
   * in the array twice (the same object would have the same number).
   */
  distinct: boolean;
}

type Extractor = (
  rows: unknown[],
  cols: unknown[][],
  kinds: number[],
  proto: object,
  monotonic: boolean[],
) => boolean;
type Builder = (
  cols: ArrayLike<unknown>[],
  n: number,
  out: unknown[],
  at: number,
) => unknown[];

const extractors = new Map<string, Extractor>();
const builders = new Map<string, Builder>();

/**
 * Turns `rows` into columns when every row is a plain object with the same
 * keys in the same order (and no function or symbol values); otherwise
 * `undefined`.
 */
export function toColumns(rows: unknown[]): Extracted | undefined {
  const first = rows[0];
  if (
    typeof first !== "object" || first === null ||
    Object.getPrototypeOf(first) !== Object.prototype
  ) return undefined;
  const keys = Object.keys(first);
  if (keys.length === 0 || keys.length > MAX_KEYS) return undefined;
  const signature = JSON.stringify(keys);
  let extract = extractors.get(signature);
  if (!extract) extractors.set(signature, extract = makeExtractor(keys));
  const cols: unknown[][] = keys.map(() => []);
  const kinds: number[] = [];
  const monotonic: boolean[] = [];
  if (!extract(rows, cols, kinds, Object.prototype, monotonic)) {
    return undefined;
  }
  return {
    keys,
    cols: cols.map((col, i) =>
      kinds[i] === NUMBERS ? Float64Array.from(col as number[]) : col
    ),
    n: rows.length,
    nested: kinds.map((kind) => kind === OBJECTS),
    strings: kinds.map((kind) => kind === STRINGS),
    distinct: kinds.some((kind, i) => kind === NUMBERS && monotonic[i]),
  };
}

/**
 * Rebuilds the records of {@linkcode toColumns} into `out`, from index `at`
 * (by default after what it holds).
 */
export function fromColumns(
  columns: Columns,
  out: unknown[] = [],
  at: number = out.length,
): unknown[] {
  const { keys } = columns;
  if (
    !Array.isArray(keys) || keys.length > MAX_KEYS ||
    !keys.every((key) => typeof key === "string")
  ) throw new TypeError("A table's keys are not a list of names");
  const numeric = columns.cols.map((col) => col instanceof Float64Array);
  const signature = JSON.stringify([columns.keys, numeric]);
  let build = builders.get(signature);
  if (!build) {
    builders.set(signature, build = makeBuilder(columns.keys, numeric));
  }
  return build(columns.cols, columns.n, out, at);
}

const NUMBERS = 0;
const OBJECTS = 2;
const STRINGS = 3;

// The generated loop checks each row's keys (`rowCheck`) and records what
// each column holds: only numbers (0), only strings (3), only primitives
// (1), or objects too (2); and whether its numbers only rise or only fall
// (`u` and `d`, against the last number `p`).
function makeExtractor(keys: string[]): Extractor {
  const k = keys.length;
  const lines = [
    `const KEYS = ${JSON.stringify(keys)}; const STRINGS = ${STRINGS};`,
    ...keys.map((_, i) =>
      `const c${i} = cols[${i}]; let k${i} = 0, u${i} = true, d${i} = true, s${i} = true, p${i} = NaN;`
    ),
    "for (let i = 0; i < rows.length; i++) {",
    "  const r = rows[i];",
    ...rowCheck(k, "false"),
  ];
  keys.forEach((key, i) => {
    lines.push(
      `  const v${i} = r[${JSON.stringify(key)}];`,
      `  if (typeof v${i} === 'number') {`,
      `    s${i} = false;`,
      `    if (i > 0) {`,
      `      if (!(v${i} > p${i})) u${i} = false;`,
      `      if (!(v${i} < p${i})) d${i} = false;`,
      `    }`,
      `  } else if (typeof v${i} === 'string') {`,
      `    k${i} = k${i} || 1;`,
      `  } else {`,
      `    if (typeof v${i} === 'function' || typeof v${i} === 'symbol') return false;`,
      `    s${i} = false;`,
      `    k${i} = typeof v${i} === 'object' && v${i} !== null ? 2 : k${i} || 1;`,
      `  }`,
      `  p${i} = v${i};`,
      `  c${i}.push(v${i});`,
    );
  });
  lines.push(
    "}",
    ...keys.map((_, i) =>
      `kinds[${i}] = s${i} ? STRINGS : k${i}; monotonic[${i}] = u${i} || d${i};`
    ),
    "return true;",
  );
  return new Function(
    "rows",
    "cols",
    "kinds",
    "proto",
    "monotonic",
    lines.join("\n"),
  ) as Extractor;
}

/**
 * Lines of a generated loop over rows that return `fail` unless the row `r`
 * is an object of prototype `proto` with exactly the keys `KEYS` (a constant
 * of the function), in order; `for…in` is fast on objects of one shape.
 */
export function rowCheck(count: number, fail: string): string[] {
  return [
    `  if (typeof r !== 'object' || r === null || Object.getPrototypeOf(r) !== proto) return ${fail};`,
    "  let m = 0;",
    `  for (const key in r) { if (m >= ${count} || key !== KEYS[m]) return ${fail}; m++; }`,
    `  if (m !== ${count}) return ${fail};`,
  ];
}

// A number column's integers are stored as small integers: read from a
// Float64Array as they are, each row would hold its number in a box of its
// own (16 bytes more a row per column, 3 MB for 200,000 rows).
function makeBuilder(keys: string[], numeric: boolean[]): Builder {
  const fields = keys.map((key, i) =>
    key === "__proto__"
      ? `["__proto__"]: v${i}`
      : `${JSON.stringify(key)}: v${i}`
  );
  const values = keys.map((_, i) =>
    numeric[i]
      ? `    let v${i} = c${i}[i]; if ((v${i} | 0) === v${i} && (v${i} !== 0 || 1 / v${i} > 0)) v${i} = v${i} | 0;`
      : `    const v${i} = c${i}[i];`
  );
  const body = [
    ...keys.map((_, i) => `const c${i} = cols[${i}];`),
    "for (let i = 0; i < n; i++) {",
    ...values,
    `    out[at + i] = { ${fields.join(", ")} };`,
    "}",
    "return out;",
  ];
  return new Function("cols", "n", "out", "at", body.join("\n")) as Builder;
}
