/**
 * Detached jobs in real `deno jupyter` kernels, on the durable local
 * cluster of a cache of their own: a kernel starts five (one printing and
 * reporting progress, one with a 10 MB result, a code job with exports, one
 * that fails, one of two minutes) and is SIGKILLed; a new kernel of the
 * same folder lists all five at import (their exports not written yet), and
 * `await jobs.attach()` gives them back with their results, logs, exports
 * and errors; it kills the long one on its runner.
 */
import assert from "node:assert/strict";
import { ok, startBgjobsKernel } from "../_kernel.ts";
import { eventually, isAlive } from "../_procs.ts";
import { detachedCache, durablePids } from "../_detached.ts";

Deno.test({
  name:
    "detached jobs outlive their kernel's SIGKILL, and a new kernel attaches to them: results, logs, exports, errors, kill",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using cache = await detachedCache();
    const env = { BGJOBS_CACHE_DIR: cache.dir };
    let long: number;
    {
      await using k = await startBgjobsKernel({ env });
      await ok(k, 'import { job, jobs, progress } from "./mod.ts";');
      const launch = await k.execute(
        `
        const printer = job(async () => {
          console.log("hello from a detached job");
          progress(3, 4);
          await new Promise((r) => setTimeout(r, 3000));
          return "printed";
        }, { detached: true, name: "printer" });
        job(() => new Uint8Array(10 * 1024 * 1024).fill(7), { detached: true, name: "big" });
        job("export const answer = 6 * 7; export const words = ['a', 'b'];", { detached: true, name: "code" });
        job(() => { throw new RangeError("failed on purpose"); }, { detached: true, name: "bad" });
        const long = job(async () => {
          share("pid", Deno.pid);
          await new Promise((r) => setTimeout(r, 120_000));
          return "late";
        }, { detached: true, name: "long" });
        while (!("pid" in long.exports) || jobs.list().some((j) => j.status === "queued")) {
          await new Promise((r) => setTimeout(r, 20));
        }
        console.log(JSON.stringify({ kernel: Deno.pid, long: long.exports.pid }));
      `,
        { timeout: 120_000 },
      );
      assert.equal(launch.status, "ok", launch.describe());
      const pids = JSON.parse(launch.stdout.trim().split("\n").at(-1)!);
      long = pids.long;
      Deno.kill(pids.kernel, "SIGKILL");
      // Past the 6 s after which a runner kills a silent kernel's jobs.
      await new Promise((r) => setTimeout(r, 8000));
      assert.ok(isAlive(long), "the long job outlives its kernel");
    }
    {
      await using k = await startBgjobsKernel({ env });
      await ok(k, 'import { job, jobs } from "./mod.ts";');
      // Listed by the import alone; the code job's exports wait for attach.
      const listed = await k.execute(
        `const until = Date.now() + 30_000;
        while (jobs.list().length < 5 && Date.now() < until) {
          await new Promise((r) => setTimeout(r, 20));
        }
        const code = jobs.list().find((j) => j.name === "code");
        await code;
        [jobs.list().map((j) => j.name).sort().join(","),
          typeof answer, code.exports.answer, jobs.status().includes("long")]`,
        { timeout: 60_000 },
      );
      assert.equal(listed.status, "ok", listed.describe());
      assert.equal(
        listed.text,
        '[ "bad,big,code,long,printer", "undefined", 42, true ]',
      );
      assert.equal(
        listed.displays.filter((d) => d.msgType === "display_data").length,
        0,
        "no panel before attach",
      );
      const attach = await k.execute(
        `const found = await jobs.attach();
        const by = Object.fromEntries(found.map((j) => [j.name, j]));
        found.map((j) => j.name).sort().join(",")`,
        { timeout: 120_000 },
      );
      assert.equal(attach.status, "ok", attach.describe());
      assert.equal(attach.text, '"bad,big,code,long,printer"');
      assert.match(
        attach.stdout,
        /Job \d+ \(code\): its exports answer, words are in the notebook/,
      );
      assert.ok(attach.displays.length >= 5, "a panel for each");
      assert.equal(await ok(k, "await by.printer"), '"printed"');
      assert.match(await ok(k, "by.printer.logs"), /hello from a detached job/);
      // Its own 3 s, not the time until this kernel read its end.
      const elapsed = Number(await ok(k, "by.printer.elapsed"));
      assert.ok(elapsed >= 2500 && elapsed < 8000, `elapsed ${elapsed} ms`);
      assert.equal(
        await ok(k, "JSON.stringify(by.printer.progress)"),
        `'{"done":3,"total":4}'`,
      );
      assert.equal(
        await ok(
          k,
          "const b = await by.big; `${b.length} ${b[0]} ${b.at(-1)}`",
        ),
        '"10485760 7 7"',
      );
      assert.equal(await ok(k, "await by.code; answer"), "42");
      assert.equal(await ok(k, "words.join('')"), '"ab"');
      assert.match(
        await ok(
          k,
          "await by.bad.done; by.bad.status + ' ' + by.bad.error.message",
        ),
        /failed .*RangeError: failed on purpose/,
      );
      assert.match(
        await ok(k, "by.bad.error.cause instanceof RangeError"),
        /true/,
      );
      assert.equal(await ok(k, "by.long.status"), '"running"');
      assert.equal(
        await ok(k, "await by.long.kill(); by.long.status"),
        '"killed"',
      );
      assert.ok(await eventually(() => !isAlive(long), 10_000), "killed");

      // Removed: a later attach finds none of them.
      await ok(
        k,
        "for (const j of jobs.list()) await jobs.remove(j); (await jobs.attach()).length",
      );
      assert.equal(await ok(k, "(await jobs.attach()).length"), "0");
      const pids = durablePids(cache.dir);
      assert.equal(pids.length, 2);
      assert.equal(await ok(k, "await jobs.stopDetachedCluster()"), "true");
      assert.ok(await eventually(() => !pids.some(isAlive), 5000));
    }
  },
});
