/**
 * The job runtime starts light: it runs as one bundled file, its module
 * graph holds neither the parser nor Node compatibility (`node:v8`), and the
 * functions a job makes are analysed by the kernel on the runtime's request.
 */
import assert from "node:assert/strict";
import { job, jobs } from "../../mod.ts";
import { serializer } from "../../lib/protocol/serializer.ts";
import {
  jobTest,
  pidJob,
  shared,
  withMaxRunning,
  withoutWarm,
} from "../_util.ts";
import { allProcesses, eventually } from "../_procs.ts";
import { roundTrip } from "../_codec.ts";
import { BUNDLE, bundleIsCurrent } from "../../tools/bundle.ts";

const RUNTIME = new URL("../../lib/runtime/main.ts", import.meta.url);

async function moduleGraph(url: URL): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", url.href],
    stdout: "piped",
  }).output();
  assert.ok(out.success);
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { specifier: string }[];
  };
  return graph.modules.map((m) => m.specifier);
}

Deno.test("the job runtime's module graph has no npm packages and no node: modules", async () => {
  const specifiers = await moduleGraph(RUNTIME);
  assert.ok(specifiers.some((s) => s.endsWith("/lib/runtime/main.ts")));
  const heavy = specifiers.filter((s) => !s.startsWith("file:"));
  assert.deepEqual(heavy, []);
  assert.ok(!specifiers.some((s) => s.endsWith("/lib/capture/analyze.ts")));
});

Deno.test("the runtime bundle is current and imports nothing", async () => {
  assert.ok(
    await bundleIsCurrent(),
    "lib/runtime/_bundle.js is out of date: run `deno task bundle`",
  );
  assert.deepEqual(await moduleGraph(BUNDLE), [BUNDLE.href]);
});

Deno.test("frames use Deno's built-in V8 serializer and keep structured-clone types", async () => {
  assert.equal(serializer.name, "deno-core");
  const value = {
    m: new Map([[1, { b: 2n }]]),
    s: new Set(["x"]),
    d: new Date(5),
    e: new RangeError("r", { cause: new Error("c") }),
  };
  const back = await roundTrip(value) as typeof value;
  assert.deepEqual(back.m, value.m);
  assert.deepEqual(back.s, value.s);
  assert.deepEqual(back.d, value.d);
  assert.ok(back.e instanceof RangeError);
  assert.equal((back.e.cause as Error).message, "c");
});

jobTest(
  "a function a job makes comes back with the functions and values it uses",
  async () => {
    const global = globalThis as Record<string, unknown>;
    const j = job(`
    const base = 10;
    function inc(x: number): number { return x + base; }
    function twice(x: number): number { return inc(x) * 2; }
    export const api = { twice, Made: class { v() { return twice(0); } } };
  `);
    try {
      await j;
      const api = j.exports.api as {
        twice(x: number): number;
        Made: new () => { v(): number };
      };
      assert.equal(api.twice(1), 22);
      assert.equal(new api.Made().v(), 20);
    } finally {
      delete global.api;
    }
  },
);

jobTest(
  "progress held back by the throttle reaches the kernel while the job still runs",
  async () => {
    // The first call goes at once; the next 99, within 50 ms of it, are held
    // back, and the last of them goes when the throttle's timer fires: long
    // before the job ends (its end would send it too).
    const j = job(`(async () => {
      for (let i = 1; i <= 100; i++) progress(i, 100);
      share("reported", true);
      await new Promise((r) => setTimeout(r, 5000));
    })()`);
    try {
      await shared(j, "reported");
      await eventually(() => j.progress?.done === 100, 2000);
      assert.deepEqual(j.progress, { done: 100, total: 100 });
      assert.equal(j.status, "running", "sent while the job runs");
    } finally {
      await j.kill();
    }
  },
);

jobTest(
  "a job-made function the kernel cannot analyse fails the job with why",
  async () => {
    const j = job(() => ({ f: Math.max.bind(null, 1) }));
    await assert.rejects(() => Promise.resolve(j), (error: Error) => {
      assert.match(error.message, /result\.f/);
      return true;
    });
  },
);

jobTest(
  "cold jobs get their job as they start and all complete, however fast they end",
  async () => {
    // A runtime not from the pool finds its job in its FIFO as it starts, and
    // may send its result and exit before the kernel has seen its channel up.
    await withoutWarm(async () => {
      for (let i = 0; i < 40; i++) {
        const called = performance.timeOrigin + performance.now();
        const j = job(() => performance.timeOrigin);
        const born = await j;
        assert.equal(j.status, "completed");
        assert.ok(born >= called - 1, "it ran in a runtime started for it");
      }
    });
  },
);

/** The `cat` relays in these process groups. */
function relaysIn(groups: number[]): number {
  return allProcesses().filter((p) => {
    if (!groups.includes(p.pgid)) return false;
    try {
      return Deno.readTextFileSync(`/proc/${p.pid}/comm`).trim() === "cat";
    } catch {
      return false;
    }
  }).length;
}

jobTest(
  "40 running jobs leave the kernel's file operations working",
  async () => {
    // Deno has 32 threads for file operations; a control channel read as a
    // FIFO would hold one per running job, and the 33rd would stall them all:
    // the kernel reads a few FIFOs itself, and the rest through relays.
    await withMaxRunning(64, async () => {
      const gate = "await new Promise((r) => setTimeout(r, 60_000))";
      const running = Array.from({ length: 40 }, () => pidJob(gate));
      try {
        const pids = await Promise.all(
          running.map((j) => shared<number>(j, "pid", 60_000)),
        );
        const relays = relaysIn(pids);
        assert.ok(
          relays >= 28 && relays < 40,
          `${relays} of 40 runtimes relayed: at most 12 read directly`,
        );
        const read = Deno.readTextFile(RUNTIME.pathname).then(() => "read");
        const stalled = new Promise<string>((resolve) => {
          const id = setTimeout(() => resolve("stalled"), 5_000);
          Deno.unrefTimer(id);
        });
        assert.equal(await Promise.race([read, stalled]), "read");
        assert.equal(jobs.running.length >= 40, true);
      } finally {
        for (const j of running) j.kill();
        await Promise.allSettled(running.map((j) => Promise.resolve(j)));
      }
    });
  },
);
