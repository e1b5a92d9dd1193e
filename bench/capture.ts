/**
 * Scenario 7, namespace capture: how long `job(fn)` takes to return when `fn`
 * uses 20 notebook names that hold 1 MB of data in total (ten `Float64Array`s
 * and ten lists of records). That call parses the function, finds its free
 * names, reads their values and encodes them for the job; each sample uses a
 * function with new source, so no parse is cached. In a plain script the
 * notebook's names are globals. For reference, the same values copied with
 * `structuredClone` and with `JSON.stringify`, in the same process.
 *
 * @module
 */
import { bgjobs } from "./_contenders/bgjobs.ts";
import type { Contender, RunContext, Scenario } from "./_scenario.ts";
import type { Batch } from "./_stats.ts";

const NAMES = 20;
const global = globalThis as Record<string, unknown>;

/** Sets the 20 names as globals; returns them and their total size. */
function makeNames(bytes: number): { values: unknown[]; bytes: number } {
  const each = bytes / NAMES;
  const values: unknown[] = [];
  let total = 0;
  for (let k = 0; k < NAMES; k++) {
    let value: unknown;
    if (k % 2 === 0) {
      const array = new Float64Array(Math.ceil(each / 8));
      for (let i = 0; i < array.length; i++) array[i] = i * 0.5;
      value = array;
      total += array.byteLength;
    } else {
      const rows = [];
      let size = 2; // as JSON: "[]" and a comma between rows
      for (let i = 0; size < each; i++) {
        const row = { id: i, name: `item${i}`, value: i * 1.5 };
        rows.push(row);
        size += JSON.stringify(row).length + 1;
      }
      value = rows;
      total += JSON.stringify(rows).length;
    }
    global[`name${k}`] = value;
    values.push(value);
  }
  return { values, bytes: total };
}

function functionSource(sample: number): string {
  const uses = Array.from({ length: NAMES }, (_, k) => `name${k}.length`);
  return `(() => /* sample ${sample} */ [${uses.join(", ")}])`;
}

async function bgjobsCapture(ctx: RunContext): Promise<Batch> {
  const { job, jobs } = await bgjobs();
  const { bytes } = makeNames(ctx.params.bytes);
  const batch: Batch = { samples: [], info: { bytes } };
  await job(() => 0); // the pool and the parser are up before timing
  for (let i = 0; i < ctx.n; i++) {
    const fn = (0, eval)(functionSource(i)) as () => number[];
    const t0 = performance.now();
    const j = job(fn);
    batch.samples.push(performance.now() - t0);
    const lengths = await j;
    if (lengths.length !== NAMES) throw new Error("the job saw wrong names");
  }
  await jobs.shutdown();
  return batch;
}

function copyWith(
  copy: (values: unknown[]) => unknown,
): (ctx: RunContext) => Promise<Batch> {
  return (ctx: RunContext): Promise<Batch> => {
    const { values } = makeNames(ctx.params.bytes);
    const samples: number[] = [];
    for (let i = 0; i < ctx.n; i++) {
      const t0 = performance.now();
      copy(values);
      samples.push(performance.now() - t0);
    }
    return Promise.resolve({ samples });
  };
}

const contenders: Contender[] = [
  { name: "bgjobs", run: bgjobsCapture },
  {
    name: "structuredClone of the values",
    run: copyWith((values) => structuredClone(values)),
  },
  {
    name: "JSON.stringify of the values",
    run: copyWith((values) => JSON.stringify(values, (_k, v) => v)),
  },
];

const scenario: Scenario = {
  id: "capture",
  title:
    "Namespace capture: job(fn) returning, fn using 20 notebook names (1 MB)",
  url: import.meta.url,
  reference: "bgjobs",
  variants: [{
    id: "capture.names",
    metric: "ms for job(fn) to return, fn using 20 names holding 1 MB",
    params: () => ({ bytes: 2 ** 20 }),
    where: ["script", "kernel"],
  }],
  contenders,
  plan: (quick) =>
    quick ? { rounds: 1, perBatch: 3 } : { rounds: 3, perBatch: 10 },
};

export default scenario;
