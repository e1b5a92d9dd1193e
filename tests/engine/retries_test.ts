/**
 * `retries` and `retryOn`: a job whose runtime dies (or, when asked, that
 * throws) runs again, every attempt kept with its error; a kill, an abort
 * or a timeout is never retried; nothing is retried by default.
 */
import assert from "node:assert/strict";
import { job, JobKilledError, jobs, JobTimeoutError } from "../../mod.ts";
import { jobTest, pidJob, shared } from "../_util.ts";

const HANG = "await new Promise(() => {});";

jobTest(
  "a runtime SIGKILLed from outside is retried: the next attempt completes, both are kept",
  async () => {
    const j = pidJob(
      "await new Promise((r) => setTimeout(r, 1000));\nexport const pid = Deno.pid;",
      { retries: { max: 2, backoff: 0 } },
    );
    const first = await shared<number>(j, "pid");
    Deno.kill(first, "SIGKILL");
    const { pid } = await j as { pid: number };
    assert.notEqual(pid, first);
    assert.equal(j.status, "completed");
    const [one, two, ...more] = j.attempts;
    assert.equal(more.length, 0);
    assert.equal(one.attempt, 1);
    assert.match(one.error!.message, /its runtime was killed by SIGKILL/);
    assert.ok(one.endedAt! <= two.startedAt);
    assert.equal(two.attempt, 2);
    assert.equal(two.error, undefined);
    assert.equal(two.where, "local");
    assert.ok(two.endedAt instanceof Date);
    assert.equal(j.startedAt?.getTime(), one.startedAt.getTime());
    assert.match(jobs.status(), /completed \(attempt 2\/3\)/);
  },
);

jobTest(
  'retryOn: "error" reruns a job that throws until it succeeds, keeping each error',
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "bgjobs_retry_" });
    try {
      // The job counts its own runs in a file: the third one succeeds.
      const code = `const file = ${JSON.stringify(`${dir}/count`)};
        const n = Number(await Deno.readTextFile(file).catch(() => "0")) + 1;
        await Deno.writeTextFile(file, String(n));
        if (n < 3) throw new Error("run " + n + " fails");
        export const runs = n;`;
      const permissions = { read: [dir], write: [dir] };
      const j = job(code, {
        retries: { max: 5, backoff: 10 },
        retryOn: "error",
        permissions,
      });
      assert.deepEqual(await j, { runs: 3 });
      assert.deepEqual(
        j.attempts.map((a) => [a.attempt, a.error?.message]),
        [
          [1, `Job ${j.id} (${j.name}) failed: Error: run 1 fails`],
          [2, `Job ${j.id} (${j.name}) failed: Error: run 2 fails`],
          [3, undefined],
        ],
      );
      // By default ("died") a job that throws is not run again.
      await Deno.remove(`${dir}/count`);
      const once = job(code, { retries: 5, permissions });
      assert.equal(await once.done, "failed");
      assert.match(once.error!.message, /run 1 fails/);
      assert.equal(once.attempts.length, 1);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

jobTest(
  "a killed job is never retried: kill() while it runs, in its backoff, or a timeout",
  async () => {
    const killed = pidJob(HANG, { retries: 3 });
    await shared(killed, "pid");
    await killed.kill();
    assert.equal(killed.status, "killed");
    assert.equal(killed.attempts.length, 1);
    assert.ok(killed.attempts[0].error instanceof JobKilledError);

    // Killed while it waits for its next attempt: it never starts again.
    const pausing = pidJob(HANG, { retries: { max: 3, backoff: 60_000 } });
    Deno.kill(await shared<number>(pausing, "pid"), "SIGKILL");
    while (pausing.attempts[0]?.endedAt === undefined) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(pausing.status, "queued");
    assert.match(jobs.status(), /queued \(attempt 2\/4\)/);
    const t0 = Date.now();
    await pausing.kill();
    assert.ok(Date.now() - t0 < 1000, "the backoff does not hold the kill");
    assert.equal(pausing.status, "killed");
    assert.equal(pausing.attempts.length, 1);

    const late = pidJob(HANG, { retries: 3, timeout: 500 });
    assert.equal(await late.done, "failed");
    assert.ok(late.error instanceof JobTimeoutError);
    assert.equal(late.attempts.length, 1);
  },
);

jobTest(
  "no retries by default: a runtime SIGKILLed from outside fails its job after one attempt",
  async () => {
    const j = pidJob(HANG);
    Deno.kill(await shared<number>(j, "pid"), "SIGKILL");
    assert.equal(await j.done, "failed");
    assert.equal(j.attempts.length, 1);
    assert.match(j.attempts[0].error!.message, /killed by SIGKILL/);
    assert.equal(j.attempts[0].error, j.error);
    const row = jobs.status().split("\n").find((r) => r.startsWith(`${j.id} `));
    assert.doesNotMatch(row!, /attempt/);
  },
);

Deno.test("bad retries and retryOn are refused with what to pass", () => {
  const before = jobs.list().length;
  const refused: [unknown, RegExp, ErrorConstructor][] = [
    [{ retries: -1 }, /retries -1: pass retries from 0 to 1000/, RangeError],
    [{ retries: 1.5 }, /retries 1.5: pass a whole number/, RangeError],
    [{ retries: "3" }, /retries "3": pass a number/, TypeError],
    [{ retries: { tries: 3 } }, /Unknown retries option "tries"/, TypeError],
    [{ retries: {} }, /without max: say how many/, TypeError],
    [
      { retries: { max: 2, backoff: -5 } },
      /retries.backoff -5: pass milliseconds/,
      RangeError,
    ],
    [
      { retries: 2, retryOn: "crash" },
      /retry on "crash": pass "died"/,
      TypeError,
    ],
    [{ retryOn: "error" }, /retryOn without retries: add how many/, TypeError],
  ];
  for (const [options, message, type] of refused) {
    assert.throws(
      () => job(() => 1, options as Parameters<typeof job>[1]),
      (e: Error) => e instanceof type && message.test(e.message),
      JSON.stringify(options),
    );
  }
  assert.equal(jobs.list().length, before);
});
