/**
 * `jobs.attach()` of many detached jobs started by another process, on the
 * durable local cluster of a cache of its own: 200 finished ones (results,
 * logs, progress, errors) and one still running, all read in one pass over
 * the stream; the running one goes on live, nothing read twice nor lost;
 * the other notebook's jobs are not listed; jobs whose events were stored
 * before their record says they started (another clock) are read on their
 * own.
 */
import assert from "node:assert/strict";
import { type Job, jobs } from "../../mod.ts";
import { detachedLink } from "../../lib/engine/detached.ts";
import { withDetachedCache } from "../_detached.ts";

const COUNT = 200;

// Another kernel: starts the jobs, waits until the gated one runs, and exits
// (shutdown leaves detached jobs running).
function launcher(gate: string): string {
  return `
    import { job, jobs, progress } from ${
    JSON.stringify(import.meta.resolve("../../mod.ts"))
  };
    await jobs.configure({ notebook: "other" });
    await job(() => "other's", { detached: true, display: false });
    await jobs.configure({ notebook: "many-test" });
    const gated = job(\`const gate = ${JSON.stringify(gate)};
      console.log("waiting");
      while (!(await Deno.stat(gate).then(() => true, () => false))) {
        await new Promise((r) => setTimeout(r, 50));
      }
      console.log("opened");
      export const opened = "yes";\`, {
      detached: true,
      display: false,
      name: "gated",
      permissions: { read: [${JSON.stringify(gate)}] },
    });
    ${Array.from({ length: COUNT }, (_, i) => finished(i)).join("\n")}
    const late = Date.now() + 120_000;
    while (!gated.logs.includes("waiting") || jobs.list().some((j) => j !== gated && !j.endedAt)) {
      if (Date.now() > late) {
        console.error(jobs.status());
        Deno.exit(1);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (gated.status !== "running") {
      console.error(\`gated: \${gated.status} \${gated.error?.message}\`);
      Deno.exit(1);
    }
    setTimeout(() => {
      console.error("jobs.shutdown() took over 30 s");
      Deno.exit(1);
    }, 30_000);
    await jobs.shutdown();
    Deno.exit(0);
  `;
}

// Job i, its number written in: a job takes no arguments.
function finished(i: number): string {
  const end = i % 50 === 7
    ? `throw new RangeError("bad ${i}")`
    : `return ${i * 2}`;
  return `job(() => {
    console.log("line ${i}");
    progress(${i}, ${COUNT});
    ${end};
  }, { detached: true, display: false, name: "d${i}" });`;
}

function checkFinished(found: Job<unknown>[]): void {
  for (const j of found) {
    if (j.name === "gated") continue;
    const i = Number(j.name.slice(1));
    assert.equal(j.logs, `line ${i}\n`, j.name);
    assert.deepEqual(j.progress, { done: i, total: COUNT }, j.name);
    assert.ok(j.endedAt instanceof Date, j.name);
    if (i % 50 === 7) {
      assert.equal(j.status, "failed", j.name);
      assert.match(j.error!.message, new RegExp(`RangeError: bad ${i}$`));
    } else {
      assert.equal(j.status, "completed", j.name);
      assert.equal(j.result, i * 2, j.name);
    }
  }
}

Deno.test({
  name:
    "attach lists 200 finished detached jobs and a running one once each, with their results, and the running one ends live",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withDetachedCache("many-test", async (dir) => {
      const gate = `${dir}/gate`;
      const launched = await new Deno.Command(Deno.execPath(), {
        args: ["eval", launcher(gate)],
        env: { BGJOBS_CACHE_DIR: dir },
      }).output();
      const said = new TextDecoder().decode(launched.stderr);
      assert.equal(launched.code, 0, `the launching process failed:\n${said}`);

      const found = await jobs.attach();
      assert.equal(found.length, COUNT + 1);
      assert.equal(new Set(found.map((j) => j.uuid)).size, COUNT + 1);
      const names = found.map((j) => j.name).sort();
      assert.deepEqual(
        names,
        ["gated", ...Array.from({ length: COUNT }, (_, i) => `d${i}`)].sort(),
      );
      checkFinished(found);
      const gated = found.find((j) => j.name === "gated")!;
      assert.equal(gated.status, "running");
      assert.equal(gated.logs, "waiting\n");
      assert.deepEqual(await jobs.attach(), [], "a second attach: none new");

      // Its end comes after the attach, read live: once, nothing doubled.
      await Deno.writeTextFile(gate, "");
      const result = await Promise.race([
        gated.then((r) => r),
        new Promise((r) => setTimeout(() => r("no end within 60 s"), 60_000)),
      ]);
      assert.deepEqual(result, { opened: "yes" });
      assert.equal(gated.status, "completed");
      assert.equal(gated.logs, "waiting\nopened\n");

      // Records saying they started an hour later than their events were
      // stored (a kernel's clock ahead of the server's): read on their own.
      jobs.flush();
      const { store } = await detachedLink();
      for (const record of await store.list("many-test")) {
        if (["d3", "d7", "gated"].includes(record.name)) {
          await store.put("many-test", {
            ...record,
            startedAt: record.startedAt + 3600_000,
          });
        } else {
          await store.remove("many-test", record);
        }
      }
      const ahead = await jobs.attach();
      assert.deepEqual(ahead.map((j) => j.name).sort(), ["d3", "d7", "gated"]);
      checkFinished(ahead);
      const again = ahead.find((j) => j.name === "gated")!;
      assert.deepEqual(await again, { opened: "yes" });
      assert.equal(again.logs, "waiting\nopened\n");
    }),
});
