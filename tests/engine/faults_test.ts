import assert from "node:assert/strict";
import { type Job, job, JobError, jobs } from "../../mod.ts";
import { eventually, isAlive } from "../_procs.ts";
import { jobTest, pidJob, shared } from "../_util.ts";

jobTest(
  "a job over its memory cap fails with an out-of-memory error; others go on",
  async () => {
    const other = job(async () => {
      await new Promise((r) => setTimeout(r, 1500));
      return "still here";
    });
    const hog = job(() => {
      const keep = [];
      while (true) keep.push(new Array(1e5).fill(Math.random()));
    }, { memory: 128 });
    assert.equal(await hog.done, "failed");
    assert.ok(hog.error instanceof JobError);
    assert.match(
      hog.error.message,
      /ran out of memory \(over its 128 MB cap\)/,
    );
    assert.equal(await other, "still here");
  },
);

jobTest("Deno.exit(3) in a job fails it with the exit code", async () => {
  const j = job(() => Deno.exit(3));
  assert.equal(await j.done, "failed");
  assert.match(j.error!.message, /exited with code 3/);
});

jobTest(
  "a job runtime killed by a signal fails with the signal's name",
  async () => {
    const j = job(() => Deno.kill(Deno.pid, "SIGABRT"));
    assert.equal(await j.done, "failed");
    assert.match(j.error!.message, /killed by SIGABRT/);
  },
);

jobTest(
  "a runtime SIGKILLed from outside fails its job, and the next job runs",
  async () => {
    const j = pidJob("await new Promise(() => {})");
    const pid = await shared<number>(j, "pid");
    Deno.kill(pid, "SIGKILL");
    assert.equal(await j.done, "failed");
    assert.match(j.error!.message, /killed by SIGKILL/);
    assert.equal(await job(() => "alive"), "alive");
  },
);

jobTest(
  "a thrown error comes back as a JobError with the remote stack and cause",
  async () => {
    const j = job(() => {
      throw new RangeError("outer", { cause: new TypeError("inner") });
    });
    const error = await Promise.resolve(j).then(() => undefined, (e) => e);
    assert.ok(error instanceof JobError);
    assert.equal(error.remote?.name, "RangeError");
    assert.match(error.message, /failed: RangeError: outer/);
    assert.match(String(error.stack), /<job>:2:/);
    assert.equal((error.cause as Error).name, "RangeError");
    assert.equal(((error.cause as Error).cause as Error).message, "inner");
    assert.match(jobs.traceback(j), /2 \|\s+throw new RangeError\("outer"/);
  },
);

jobTest(
  "traceback() shows the source line of a notebook function the job called",
  async () => {
    (globalThis as Record<string, unknown>).parseRow = function parseRow(
      row: string,
    ): number {
      if (!row) throw new Error("empty row");
      return row.length;
    };
    try {
      const j = job(`["a", ""].map((r) => parseRow(r))`);
      assert.equal(await j.done, "failed");
      const tb = jobs.traceback(j);
      assert.match(
        tb,
        /at parseRow \(<notebook>:2:\d+\)\n\s+2 \|\s+if \(!row\) throw new Error\("empty row"\);/,
      );
      assert.match(tb, /<job>:1:\d+\)?\n\s+1 \| \["a", ""\]\.map/);
    } finally {
      delete (globalThis as Record<string, unknown>).parseRow;
    }
  },
);

jobTest("an unhandled rejection in a job fails that job", async () => {
  const j = job(() => {
    Promise.reject(new Error("nobody caught me"));
    return new Promise((r) => setTimeout(r, 5000));
  });
  assert.equal(await j.done, "failed");
  assert.match(j.error!.message, /nobody caught me/);
});

jobTest(
  "a result that cannot be sent fails the job with a clear message",
  async () => {
    const j = job(() => new WeakMap());
    assert.equal(await j.done, "failed");
    assert.match(
      j.error!.message,
      /Cannot send "result" to the notebook: a WeakMap cannot be copied/,
    );
  },
);

jobTest("a SIGKILLed parent leaves no job runtime behind", async () => {
  const script = `
    import { job } from ${
    JSON.stringify(new URL("../../mod.ts", import.meta.url).href)
  };
    const a = job(\`share("pid", Deno.pid); while (true) {}\`);
    const b = job(\`const c = new Deno.Command("sleep", { args: ["1000"] }).spawn();
      share("pid", Deno.pid); share("child", c.pid); await c.status;\`);
    const wait = async (j, n) => { while (!(n in j.exports)) await new Promise((r) => setTimeout(r, 5)); return j.exports[n]; };
    console.log(JSON.stringify([await wait(a, "pid"), await wait(b, "pid"), await wait(b, "child")]));
    await new Promise(() => {});
  `;
  const parent = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const w = parent.stdin.getWriter();
  await w.write(new TextEncoder().encode(script));
  await w.close();
  const reader = parent.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) text += (await reader.read()).value ?? "";
  const pids: number[] = JSON.parse(text);
  assert.ok(pids.every(isAlive));
  Deno.kill(parent.pid, "SIGKILL");
  await parent.status;
  assert.ok(
    await eventually(() => !pids.some(isAlive), 1000),
    `left: ${pids.filter(isAlive)}`,
  );
  await reader.cancel();
});

/** Starts a job that spawns `count` `sleep 1000`s, shares their pids, waits. */
function forkJob(count: number, detached: boolean): Job<unknown> {
  return job(`
    const kids = Array.from({ length: ${count} }, () =>
      new Deno.Command("sleep", { args: ["1000"], detached: ${detached} }).spawn());
    share("pids", kids.map((k) => k.pid));
    await new Promise(() => {});`);
}

for (const detached of [false, true]) {
  // A subprocess started with { detached: true } has a process group of its
  // own: kill() finds it below the runtime in /proc.
  jobTest(
    `kill() of a job with 50 ${
      detached ? "detached " : ""
    }subprocesses leaves none`,
    async () => {
      const j = forkJob(50, detached);
      const pids = await shared<number[]>(j, "pids");
      try {
        assert.equal(pids.filter(isAlive).length, 50);
        const t0 = performance.now();
        await j.kill();
        const took = performance.now() - t0;
        assert.equal(j.status, "killed");
        assert.ok(
          await eventually(() => !pids.some(isAlive), 1000),
          `${pids.filter(isAlive).length} of 50 left`,
        );
        assert.ok(took < 1000, `kill() took ${took.toFixed(0)} ms`); // generous; bench measures the real number
      } finally {
        for (const pid of pids.filter(isAlive)) Deno.kill(pid, "SIGKILL");
      }
    },
  );
}

jobTest(
  "an unwritable temp dir fails the job with a clear JobError and the process goes on",
  async () => {
    const script = await Deno.makeTempFile({ suffix: ".ts" });
    await Deno.writeTextFile(
      script,
      `import { job, jobs } from ${
        JSON.stringify(new URL("../../mod.ts", import.meta.url).href)
      };
      const out = [];
      for (const work of [() => 1, "2"]) {
        const j = job(work);
        out.push([await j.done, j.error?.name, j.error?.message]);
      }
      await jobs.shutdown();
      console.log(JSON.stringify(out));`,
    );
    try {
      // Missing, unwritable even for root, and not a directory.
      for (const tmp of ["/nonexistent-bgjobs", "/proc", "/etc/hostname"]) {
        const { code, stdout, stderr } = await new Deno.Command(
          Deno.execPath(),
          { args: ["run", "-A", script], env: { TMPDIR: tmp } },
        ).output();
        const said = new TextDecoder().decode(stderr);
        assert.equal(code, 0, `TMPDIR=${tmp}: ${said}`);
        const out = JSON.parse(new TextDecoder().decode(stdout));
        assert.equal(out.length, 2);
        for (const [status, name, message] of out) {
          assert.equal(status, "failed");
          assert.equal(name, "JobError");
          assert.match(
            message,
            /^Job \d+ \(.+\) could not start: Cannot make the job channel in the temporary directory: .*(No such file|Not a directory|denied|Read-only).*; point TMPDIR at a writable directory$/,
          );
        }
      }
    } finally {
      await Deno.remove(script);
    }
  },
);

jobTest("fault tests leave no runtime behind", async () => {
  await jobs.shutdown();
});
