import assert from "node:assert/strict";
import { type Job, job, jobs } from "../../mod.ts";
import { stateOf } from "../../lib/engine/job_state.ts";
import { localPool as runtimePool } from "../../lib/engine/backend.ts";
import { jobTest, withMaxRunning } from "../_util.ts";
import { eventually } from "../_procs.ts";

jobTest(
  "200 jobs with maxRunning 4 all complete, none lost, registry consistent",
  async () => {
    jobs.flush();
    await withMaxRunning(4, async () => {
      let peak = 0;
      const list = Array.from(
        { length: 200 },
        (_, i) => job(`${i} * 2`, { name: `double ${i}` }),
      );
      const sampler = setInterval(
        () => peak = Math.max(peak, jobs.running.length),
        2,
      );
      const results = await Promise.all(list);
      clearInterval(sampler);
      assert.deepEqual(results, list.map((_, i) => i * 2));
      assert.ok(peak <= 4, `${peak} ran at once`);
      assert.equal(jobs.completed.length, 200);
      assert.equal(new Set(list.map((j) => j.id)).size, 200);
      assert.equal(
        jobs.running.length + jobs.queued.length + jobs.failed.length,
        0,
      );
    });
  },
);

jobTest(
  "statuses move queued → running → completed with timestamps",
  () =>
    withMaxRunning(1, async () => {
      const a = job(() => new Promise((r) => setTimeout(() => r("a"), 200)));
      const b = job(() => "b");
      assert.equal(b.status, "queued");
      assert.equal(b.startedAt, undefined);
      assert.equal(b.elapsed, 0);
      await a;
      assert.equal(await b, "b");
      assert.equal(b.status, "completed");
      assert.ok(b.startedAt! <= b.endedAt!);
      assert.ok(a.elapsed >= 150, `a ran ${a.elapsed} ms`);
      assert.equal(await b.done, "completed");
    }),
);

jobTest(
  "a runtime serves one job: no state leaks from job to job",
  async () => {
    jobs.configure({ warm: 2 });
    await job(() => {
      (globalThis as Record<string, unknown>).leak = "secret";
    });
    assert.equal(
      await job(() => typeof (globalThis as Record<string, unknown>).leak),
      "undefined",
    );
    jobs.configure({ warm: 1 });
  },
);

jobTest(
  "the next default job gets the warm runtime the pool started",
  async () => {
    await job(() => 1);
    await new Promise((r) => setTimeout(r, 500)); // the pool refills meanwhile
    const before = runtimePool().stats;
    await job(() => 2);
    const after = runtimePool().stats;
    assert.equal(
      after.reused,
      before.reused + 1,
      "the job took a warm runtime",
    );
    // Once the job is over (or has run 1 s), not while it runs.
    assert.ok(
      await eventually(
        () => runtimePool().stats.started === before.started + 1,
        1000,
      ),
      "and the pool started one to replace it",
    );
  },
);

jobTest(
  "get, list, result, remove and flush keep the registry straight",
  async () => {
    const ok = job(() => 1);
    const bad = job(() => {
      throw new Error("nope");
    });
    const slow = job(() => new Promise(() => {}));
    await ok.done;
    await bad.done;
    assert.equal(jobs.get(ok.id), ok);
    assert.equal(jobs.result(ok), 1);
    assert.throws(() => jobs.result(bad.id), /nope/);
    assert.throws(() => jobs.result(slow), RangeError);
    assert.throws(() => jobs.remove(slow), TypeError);
    assert.equal(jobs.get(slow.id), slow);
    jobs.remove(ok);
    assert.equal(jobs.get(ok.id), undefined);
    assert.throws(() => jobs.remove(ok.id), RangeError);
    await slow.kill();
    const removed = jobs.flush();
    assert.ok(removed >= 2);
    assert.equal(jobs.list().filter((j) => stateOf(j).finished).length, 0);
  },
);

jobTest("jobs.status() is a text table of every job", async () => {
  const j = job(() => 6 * 7, { name: "answer" });
  await j;
  const table = jobs.status();
  assert.match(
    table.split("\n")[0],
    /^id\s+name\s+status\s+where\s+elapsed\s+progress\s+result \/ error$/,
  );
  assert.match(
    table,
    new RegExp(
      `^${j.id}\\s+answer\\s+completed\\s+local\\s+\\d+ ms\\s+42$`,
      "m",
    ),
  );
});

Deno.test("jobs.configure() refuses bad options and changes nothing", () => {
  assert.throws(
    () => jobs.configure({ permissions: { nett: true } as never }),
    TypeError,
  );
  assert.throws(() => jobs.configure({ maxRunning: 0 }), RangeError);
  assert.throws(() => jobs.configure({ warm: 1.5 }), RangeError);
  assert.throws(() => jobs.configure(null as never), TypeError);
  assert.doesNotThrow(() => jobs.configure({}));
});

jobTest("outside Jupyter, jobs and a job print as text", async () => {
  const j = job(() => "x", { name: "printable" });
  await j;
  assert.match(
    Deno.inspect(j),
    new RegExp(`^Job ${j.id} \\(printable\\) · completed · \\d+ ms$`),
  );
  assert.equal(Deno.inspect(jobs), jobs.status());
});

jobTest("bad input leaves the registry as it was", () => {
  const before = jobs.list().length;
  const bad: [unknown, unknown][] = [
    [42, undefined],
    [null, undefined],
    ["syntax error here(", undefined],
    [() => 1, { timeout: -1 }],
    [() => 1, { memory: "big" }],
    [() => 1, { permissions: { nett: true } }],
    [() => 1, { colour: "red" }],
    [Math.max, undefined],
    [(() => 1).bind(null), undefined],
  ];
  for (const [what, options] of bad) {
    assert.throws(
      () => job(what as never, options as never),
      (e: Error) =>
        (e instanceof TypeError || e instanceof RangeError) &&
        /^Cannot|^Unknown/.test(e.message),
    );
  }
  const x = 1;
  const tag = job as unknown as (
    s: TemplateStringsArray,
    ...v: unknown[]
  ) => unknown;
  assert.throws(() => tag`${x} + 1`, /substitutions/);
  assert.equal(jobs.list().length, before);
  return Promise.resolve();
});

jobTest("registry tests leave no runtime behind", async () => {
  await jobs.shutdown();
});

jobTest(
  "jobs.wait() waits for every job, those started meanwhile too, and refuses a bad timeout",
  async () => {
    await assert.rejects(() => jobs.wait({ timeout: -1 }), RangeError);
    const first = job(() => new Promise((r) => setTimeout(() => r(1), 200)));
    let second: Job<unknown> | undefined;
    setTimeout(() => {
      second = job(() => new Promise((r) => setTimeout(() => r(2), 300)));
    }, 100);
    const all = await jobs.wait();
    assert.equal(first.status, "completed");
    assert.equal(second?.status, "completed", "started while waiting");
    assert.ok(all.includes(second!));
    await jobs.shutdown();
  },
);
