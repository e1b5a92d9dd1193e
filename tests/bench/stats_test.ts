/**
 * The bench harness works: a tiny quick run writes well-formed records and a
 * RESULTS.md. No timing is asserted: the machine is shared and this is a
 * smoke test of the harness, not a benchmark.
 */
import assert from "node:assert/strict";
import { addBatch, median, newTally, quantile } from "../../bench/_stats.ts";
import { casesOf } from "../../bench/main.ts";

const OUTCOMES = [
  "ok",
  "never stops",
  "incomplete",
  "not implemented",
  "unavailable",
  "failed",
];

Deno.test("bench stats: median, quantiles, and the worst outcome of a tally wins", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  assert.equal(quantile([0, 10], 0.9), 9);
  const tally = newTally();
  addBatch(tally, { samples: [1, 2], extra: { a: [1] } });
  addBatch(tally, { samples: [], outcome: "never stops", note: "spins" });
  addBatch(tally, { samples: [3], extra: { a: [2] }, note: "spins" });
  assert.deepEqual(tally.samples, [1, 2, 3]);
  assert.deepEqual(tally.extra.a, [1, 2]);
  assert.equal(tally.outcome, "never stops");
  assert.deepEqual(tally.notes, ["spins"]);
});

Deno.test("bench cases: a variant run in a kernel too gets a twin case named ….kernel", () => {
  const variant = {
    id: "transfer.f64",
    metric: "ms",
    where: ["script", "kernel"],
  } as const;
  const cases = casesOf({ ...variant, where: [...variant.where] });
  assert.deepEqual(cases.map((c) => [c.where, c.case.id]), [
    ["script", "transfer.f64"],
    ["kernel", "transfer.f64.kernel"],
  ]);
  assert.match(cases[1].case.metric, /in a real Deno kernel$/);
  assert.deepEqual(
    casesOf({ id: "kill.busy", metric: "ms" }).map((c) => c.case.id),
    ["kill.busy"],
  );
});

Deno.test({
  name: "deno task bench --quick writes well-formed records and RESULTS.md",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "bgjobs-bench-" });
    try {
      const run = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("../../bench/main.ts", import.meta.url).pathname,
          "--quick",
          "--no-install",
          "--only=start.plain,kill.busy",
          "--contenders=bgjobs,Deno.Command,Deno Worker",
          `--out=${out}`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(run.stdout);
      const stderr = new TextDecoder().decode(run.stderr);
      assert.ok(run.success, `bench failed:\n${stdout}\n${stderr}`);

      const { machine, quick, records } = JSON.parse(
        await Deno.readTextFile(`${out}/results.json`),
      );
      assert.equal(quick, true);
      assert.equal(typeof machine.cpu, "string");
      assert.ok(machine.cores >= 1);
      const cases = new Set(
        records.map((r: { scenario: string }) => r.scenario),
      );
      assert.deepEqual([...cases].sort(), ["kill.busy", "start.plain"]);
      for (const r of records) {
        const where = `${r.scenario} / ${r.contender}`;
        assert.ok(
          OUTCOMES.includes(r.outcome),
          `${where}: outcome ${r.outcome}`,
        );
        assert.ok(Number.isInteger(r.n) && r.n >= 0, `${where}: n`);
        for (const key of ["median_ms", "p90_ms", "min_ms", "max_ms"]) {
          assert.ok(
            r[key] === null || typeof r[key] === "number",
            `${where}: ${key} = ${r[key]}`,
          );
        }
        if (r.outcome === "ok") {
          assert.ok(r.n > 0, `${where}: ok without samples`);
          assert.ok(r.min_ms <= r.median_ms && r.median_ms <= r.max_ms, where);
          assert.ok(r.median_ms <= r.p90_ms && r.p90_ms <= r.max_ms, where);
        }
      }
      const contenders = records.map((r: { contender: string }) => r.contender);
      for (const name of ["bgjobs (warm)", "bgjobs (cold)", "Deno Worker"]) {
        assert.ok(contenders.includes(name), `no record of ${name}`);
      }
      // A Worker stuck in a busy loop is reported, not left out.
      const worker = records.find((
        r: { scenario: string; contender: string },
      ) => r.scenario === "kill.busy" && r.contender === "Deno Worker");
      assert.ok(worker, "kill.busy has a Deno Worker record");

      const md = await Deno.readTextFile(`${out}/RESULTS.md`);
      for (
        const part of [
          "## Machine",
          "## Targets",
          "`start.plain`",
          "`kill.busy`",
        ]
      ) {
        assert.ok(md.includes(part), `RESULTS.md lacks ${part}`);
      }
      assert.match(stdout, /× bgjobs/);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
