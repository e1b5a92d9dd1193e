/**
 * `after`: a job waits ("waiting") for the jobs it lists and gets their
 * results as arguments; one that fails or is killed fails it, naming it;
 * only jobs of this kernel can be listed.
 */
import assert from "node:assert/strict";
import { job, JobError, JobKilledError, jobs } from "../../mod.ts";
import { jobTest, pidJob, shared } from "../_util.ts";

jobTest(
  "a diamond runs in order, each job getting its dependencies' results as arguments",
  async () => {
    const a = job(async () => {
      await new Promise((r) => setTimeout(r, 300));
      return new Map([["n", 2]]);
    }, { name: "a" });
    const b = job((m) => m.get("n")! + 1, { after: [a], name: "b" });
    const c = job((m) => m.get("n")! * 10, { after: [a], name: "c" });
    const d = job((x, y) => ({ x, y }), { after: [b, c], name: "d" });
    assert.deepEqual([b.status, c.status, d.status], [
      "waiting",
      "waiting",
      "waiting",
    ]);
    assert.ok([b, c, d].every((j) => jobs.waiting.includes(j)));
    assert.match(jobs.status(), new RegExp(`${d.id}\\s+d\\s+waiting`));
    await jobs.wait(); // waiting jobs are waited for too
    assert.deepEqual(d.result, { x: 3, y: 20 });
    assert.ok(b.startedAt! >= a.endedAt! && c.startedAt! >= a.endedAt!);
    assert.ok(d.startedAt! >= b.endedAt! && d.startedAt! >= c.endedAt!);
    assert.equal(jobs.waiting.length, 0);
  },
);

jobTest(
  "a failed dependency fails every job after it, each naming its dependency in cause",
  async () => {
    const a = job(() => {
      throw new Error("a broke");
    }, { name: "a" });
    const b = job((x) => x, { after: [a], name: "b" });
    const c = job((x) => x, { after: [a], name: "c" });
    const d = job((x, y) => [x, y], { after: [b, c], name: "d" });
    assert.equal(await d.done, "failed");
    for (const j of [b, c]) {
      assert.equal(j.status, "failed");
      assert.ok(j.error instanceof JobError);
      assert.equal(
        j.error.message,
        `Job ${j.id} (${j.name}) did not start: its dependency Job ${a.id} (a) failed`,
      );
      assert.equal(j.error.cause, a.error);
      assert.equal(j.startedAt, undefined);
      assert.equal(j.attempts.length, 0);
    }
    const by = d.error!.cause === b.error ? b : c;
    assert.equal(d.error!.cause, by.error);
    assert.match(
      d.error!.message,
      new RegExp(`did not start: its dependency Job ${by.id} \\(${by.name}\\)`),
    );
    assert.match((a.error!.cause as Error).message, /a broke/);
  },
);

jobTest(
  "a killed dependency fails its dependents; a waiting job that is killed never starts",
  async () => {
    const a = pidJob("await new Promise(() => {});", { name: "a" });
    const b = job((x) => x, { after: [a], name: "b" });
    const c = job((x) => x, { after: [a], name: "c" });
    await shared(a, "pid");
    await c.kill();
    assert.equal(c.status, "killed");
    assert.ok(c.error instanceof JobKilledError);
    assert.equal(c.startedAt, undefined);
    assert.equal(a.status, "running");
    assert.equal(b.status, "waiting");
    await a.kill();
    assert.equal(await b.done, "failed");
    assert.match(
      b.error!.message,
      new RegExp(`its dependency Job ${a.id} \\(a\\) was killed$`),
    );
    assert.ok(b.error!.cause instanceof JobKilledError);
  },
);

jobTest("a map job can be a dependency", async () => {
  const squares = jobs.map([1, 2, 3], (x) => x * x);
  const sum = job((xs) => xs.reduce((s, x) => s + x, 0), {
    after: [squares],
  });
  assert.equal(await sum, 14);
  assert.ok(sum.startedAt! >= squares.endedAt!);
  assert.equal(
    await job(() => "none to wait for", { after: [] }),
    "none to wait for",
  );
});

jobTest(
  "after refuses what is not a job of this kernel, and code, and leaves the registry as it was",
  async () => {
    const a = job(() => 1, { name: "a" });
    await a;
    const gone = job(() => 2, { name: "gone" });
    await gone;
    jobs.remove(gone);
    const before = jobs.list().length;
    const refused: [unknown, RegExp][] = [
      [a, /after: Job \d+ \(a\) is not an array; pass an array of jobs/],
      [[42], /after\[0\]: number 42 is not a job; list jobs made by job\(\)/],
      [[a, Promise.resolve(1)], /after\[1\]: a Promise is not a job/],
      [[{ id: a.id, name: "a" }], /after\[0\]: an Object is not a job/],
      [[a, a], /Job \d+ \(a\) is listed twice; list each job once/],
      [
        [gone],
        /after\[0\]: Job \d+ \(gone\) is not in jobs \(it was removed\)/,
      ],
    ];
    for (const [after, message] of refused) {
      assert.throws(
        () => job(() => 0, { after } as { after: [] }),
        (e: Error) => e instanceof TypeError && message.test(e.message),
      );
    }
    assert.throws(
      () => job("1 + 1", { after: [a] }),
      /Cannot use after with code: .*use the function form/,
    );
    assert.throws(
      () => jobs.map([1], (x) => x, { after: [a] }),
      /Cannot use after with jobs.map/,
    );
    assert.equal(jobs.list().length, before);
  },
);
