/**
 * Runtimes started cold are started straight from the kernel where it may
 * call libc, else they come from a launcher made ahead (a shell and its
 * relay, no Deno). Either way a runtime starts where the notebook is now,
 * with the job's environment, and goes with the process that made it. The
 * runtime's compiled code is stored once, for the runtimes after it.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { job, jobs } from "../../mod.ts";
import {
  jobTest,
  pidJob,
  shared,
  withLaunchers,
  withoutWarm,
} from "../_util.ts";
import { descendantsOf, eventually, isAlive, namingAlive } from "../_procs.ts";
import { BUNDLE } from "../../tools/bundle.ts";

const MOD = new URL("../../mod.ts", import.meta.url).href;

/**
 * The launchers waiting below `pid`: shells named `bgjobs-runtime` that lead
 * their group (a running runtime is `deno`).
 */
function launchers(pid = Deno.pid): number[] {
  const leaders = descendantsOf(pid).filter((p) => p.pgid === p.pid);
  return leaders.map((p) => p.pid).filter((child) => {
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${child}/cmdline`);
      return cmdline.split("\0").includes("bgjobs-runtime") &&
        !cmdline.includes("deno");
    } catch {
      return false;
    }
  });
}

/** Each way a cold runtime starts, with what runs a test that way. */
const WAYS = [
  { way: "started directly", cold: withoutWarm },
  { way: "from a launcher", cold: withLaunchers },
];

async function spareLauncher(): Promise<number> {
  assert.ok(await eventually(() => launchers().length > 0, 5000));
  return launchers()[0];
}

jobTest(
  "a cold job runs in the launcher made ahead, in the current directory",
  async () => {
    const home = Deno.cwd();
    const dir = Deno.realPathSync(await Deno.makeTempDir());
    try {
      await withLaunchers(async () => {
        await job(() => 0);
        const spare = await spareLauncher();
        Deno.chdir(dir);
        const [cwd, pid] = await job(() => [Deno.cwd(), Deno.pid]);
        assert.equal(cwd, dir);
        assert.equal(pid, spare, "the runtime kept the launcher's pid");
      });
    } finally {
      Deno.chdir(home);
      await Deno.remove(dir, { recursive: true });
    }
  },
);

jobTest(
  "a cold job that ends before its runtime is seen ready still leaves a launcher made ahead",
  async () => {
    const blocked = new Int32Array(new SharedArrayBuffer(4));
    await withLaunchers(async () => {
      for (let round = 0; round < 4; round++) {
        await job(() => 0); // a launcher for the next one
        await spareLauncher();
        const quick = job(`${round}`);
        // Let the launch give its word, then hold this thread while the
        // runtime starts, runs its job and exits: the kernel sees the exit
        // and the ready message in one turn of its event loop.
        await new Promise((resolve) => setTimeout(resolve, 5));
        Atomics.wait(blocked, 0, 0, 600);
        assert.equal(await quick, round);
        assert.ok(
          await eventually(() => launchers().length > 0, 5000),
          `round ${round}: no launcher made ahead after the job`,
        );
      }
    });
  },
);

for (const { way, cold } of WAYS) {
  jobTest(
    `a granted variable reaches the job exactly, whatever its name and value (${way})`,
    async () => {
      const odd = 'it\'s "$HOME" `id`\n\\ and more';
      Deno.env.set("BGJOBS_TEST_QUOTED", odd);
      Deno.env.set("BGJOBS-TEST-DASHED", "dashed");
      try {
        await cold(async () => {
          const got = await job(
            () => [
              Deno.env.get("BGJOBS_TEST_QUOTED"),
              Deno.env.get("BGJOBS-TEST-DASHED"),
            ],
            {
              permissions: {
                env: ["BGJOBS_TEST_QUOTED", "BGJOBS-TEST-DASHED"],
              },
            },
          );
          assert.deepEqual(got, [odd, "dashed"]);
          await assert.rejects(
            async () =>
              await job(() => Deno.env.get("BGJOBS_TEST_QUOTED"), {
                permissions: { env: ["BGJOBS_TEST_OTHER"] },
              }),
            /Requires env access to "BGJOBS_TEST_QUOTED"/,
          );
        });
      } finally {
        Deno.env.delete("BGJOBS_TEST_QUOTED");
        Deno.env.delete("BGJOBS-TEST-DASHED");
      }
    },
  );
}

for (const { way, cold } of WAYS) {
  jobTest(
    `jobs start cleanly after the directory the last one was started in is removed (${way})`,
    async () => {
      const home = Deno.cwd();
      try {
        await cold(async () => {
          for (let round = 0; round < 6; round++) {
            const dir = await Deno.makeTempDir();
            Deno.chdir(dir);
            assert.equal(await job(() => 7), 7); // the next launcher is made here
            Deno.chdir(home);
            await Deno.remove(dir);
            assert.equal(await job(() => Deno.cwd()), home);
          }
        });
      } finally {
        Deno.chdir(home);
      }
    },
  );
}

for (const { way, cold } of WAYS) {
  jobTest(
    `a cold job whose message is too big to wait in the FIFO still runs (${way})`,
    async () => {
      await cold(async () => {
        const text = "x".repeat(100_000);
        assert.equal(await job(`"${text}".length`), 100_000);
      });
    },
  );
}

jobTest(
  "a runtime's young generation is collected by mark-sweep, with a memory cap or without",
  async () => {
    for (const memory of [undefined, 256]) {
      const j = pidJob("await new Promise(() => {})", { memory });
      const pid = await shared<number>(j, "pid");
      const args = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
      await j.kill();
      const v8 = args.filter((arg) => arg.startsWith("--v8-flags="));
      assert.equal(v8.length, 1, `one --v8-flags in ${args.join(" ")}`);
      assert.deepEqual(
        v8[0].slice("--v8-flags=".length).split(","),
        memory ? ["--minor-ms", `--max-old-space-size=${memory}`] : [
          "--minor-ms",
        ],
      );
    }
  },
);

jobTest("jobs.shutdown() removes the launcher made ahead", async () => {
  await job(() => 0);
  await spareLauncher();
  await jobs.shutdown();
  assert.ok(
    await eventually(() => launchers().length === 0, 2000),
    `launchers left: ${launchers()}`,
  );
  assert.equal(await job(() => 6 * 7), 42, "a new one is made when needed");
  await jobs.shutdown();
});

const ENDINGS = [
  {
    name: "a SIGKILLed process leaves no launcher and no channel directory",
    code: `jobs.configure({ warm: 0 });
    await job(() => 1);
    console.log("up");
    await new Promise(() => {});`,
    kill: true,
    // Only a launcher made ahead runs at the kill.
    running: false,
  },
  {
    name:
      "a SIGKILLed process with a warm runtime and a running job leaves no channel directory",
    code: `await job(() => 1);
    job(() => new Promise(() => {}));
    await new Promise((r) => setTimeout(r, 300));
    console.log("up");
    await new Promise(() => {});`,
    kill: true,
    running: true,
  },
  {
    name:
      "a script that ends without jobs.shutdown() leaves no channel directory",
    code: `await job(() => 1);
    console.log("up");`,
    kill: false,
    running: false,
  },
];

/**
 * A script in a folder of its own, run with a TMPDIR of its own: `dirs()`
 * lists what is left there.
 */
async function scratchScript(code: string): Promise<{
  dirs(): string[];
  /** Processes whose command line names the script's TMPDIR: launchers, runtimes. */
  ours(): number[];
  /** `group`: the script leads a process group of its own. */
  spawn(group?: boolean): Deno.ChildProcess;
  remove(): Promise<void>;
}> {
  const tmp = await Deno.makeTempDir();
  const script = `${tmp}/script.ts`;
  const scratch = `${tmp}/tmp`;
  await Deno.mkdir(scratch);
  await Deno.writeTextFile(script, code);
  return {
    dirs: () => [...Deno.readDirSync(scratch)].map((e) => e.name),
    ours: () => namingAlive(scratch),
    spawn: (group = false) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-config", script],
        env: { TMPDIR: scratch },
        stdout: "piped",
        detached: group,
      }).spawn(),
    remove: () => Deno.remove(tmp, { recursive: true }),
  };
}

/** Waits for the script's first output, which says "up". */
async function up(child: Deno.ChildProcess): Promise<void> {
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  assert.match(new TextDecoder().decode(value), /up/);
  reader.releaseLock();
}

const LAUNCH = new URL("../../lib/launch/launch.ts", import.meta.url).href;
const LAUNCHERS_ONLY = `import { allowDirectSpawns } from ${
  JSON.stringify(LAUNCH)
};\nallowDirectSpawns(false);\n`;

for (const ending of ENDINGS) {
  for (const direct of [true, false]) {
    Deno.test(`${ending.name} (${direct ? "started directly" : "from a launcher"})`, async () => {
      const { dirs, ours, spawn, remove } = await scratchScript(
        `import { job, jobs } from ${JSON.stringify(MOD)};\n${
          direct ? "" : LAUNCHERS_ONLY
        }${ending.code}`,
      );
      const child = spawn();
      try {
        await up(child);
        let waiting: number[] = [];
        if (ending.kill) {
          if (!direct) {
            assert.ok(
              await eventually(() => launchers(child.pid).length > 0, 5000),
            );
          }
          if (!direct || ending.running) {
            assert.ok(await eventually(() => ours().length > 0, 5000));
          }
          // The launcher made ahead waits in its directory (a runtime's goes
          // once the runtime has opened what is in it).
          if (!direct) {
            const made = dirs().some((name) => name.startsWith("bgjobs-"));
            assert.ok(made, `${dirs()}`);
          }
          waiting = ours();
          child.kill("SIGKILL");
        }
        await child.status;
        assert.ok(
          await eventually(() =>
            !waiting.some(isAlive) && ours().length === 0 &&
            dirs().length === 0
          ),
          `left: processes ${ours()}, files ${dirs()}`,
        );
      } finally {
        await child.stdout.cancel().catch(() => {});
        await remove();
      }
    });
  }
}

const SPARE = new URL("../../lib/launch/spare.ts", import.meta.url).href;

for (const group of [false, true]) {
  Deno.test(
    group
      ? "a process group SIGKILLed at any moment while its leader makes launchers leaves no channel directory (a supervisor's kill, Ctrl-C)"
      : "a process SIGKILLed at any moment while it makes launchers leaves no channel directory",
    async () => {
      // Launchers made and dropped back to back: a SIGKILL lands anywhere in
      // the making, between the directory and its launcher too, and (to the
      // group) before a launcher has left the group.
      const { dirs, spawn, remove } = await scratchScript(
        `import { dropLauncher, takeLauncher } from ${JSON.stringify(SPARE)};
        console.log("up");
        while (true) dropLauncher(await takeLauncher());`,
      );
      try {
        let seen = 0;
        for (let round = 0; round < 12; round++) {
          const child = spawn(group);
          await up(child);
          // Until the kill, watch the directories come and go.
          const until = Date.now() + 30 + 17 * round;
          while (Date.now() < until) {
            seen += dirs().length;
            await new Promise((r) => setTimeout(r, 2));
          }
          if (group) Deno.kill(-child.pid, "SIGKILL");
          else child.kill("SIGKILL");
          await child.status;
          await child.stdout.cancel().catch(() => {});
        }
        assert.ok(seen > 0, "the processes made channel directories");
        assert.ok(
          await eventually(() => dirs().length === 0, 5000),
          `left: ${dirs()}`,
        );
      } finally {
        await remove();
      }
    },
  );
}

Deno.test("the runtime's compiled code is stored once, for the runtimes after it", async () => {
  const tmp = await Deno.makeTempDir();
  const script = `${tmp}/script.ts`;
  const denoDir = `${tmp}/deno`;
  // The script's own modules come from the usual cache; its runtimes get an
  // empty one (DENO_DIR is read when the first runtime starts).
  await Deno.writeTextFile(
    script,
    `import { job, jobs } from ${JSON.stringify(MOD)};
    Deno.env.set("DENO_DIR", ${JSON.stringify(denoDir)});
    jobs.configure({ warm: 0 });
    console.log(await job(() => 6 * 7));
    await new Promise((r) => setTimeout(r, 200));
    await jobs.shutdown();`,
  );
  const cached = () => {
    try {
      const db = new DatabaseSync(`${denoDir}/v8_code_cache_v2`, {
        readOnly: true,
      });
      try {
        return db.prepare("SELECT specifier FROM codecache").all()
          .map((row) => String(row.specifier));
      } finally {
        db.close();
      }
    } catch {
      return [];
    }
  };
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-config", script],
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "42");
    assert.ok(
      await eventually(() => cached().includes(BUNDLE.href), 10_000),
      `the code cache holds: ${cached()}`,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("the runtime run with no arguments only loads", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", BUNDLE.href],
  }).output();
  assert.equal(out.code, 0);
  assert.equal(new TextDecoder().decode(out.stdout), "");
  assert.equal(new TextDecoder().decode(out.stderr), "");
});

for (const { way, cold } of WAYS) {
  jobTest(
    `a runtime that cannot start fails its job with Deno's reason, and the next job runs (${way})`,
    async () => {
      const home = Deno.cwd();
      const dir = await Deno.makeTempDir();
      try {
        await cold(async () => {
          await Deno.writeTextFile(`${dir}/deno.json`, '{ "imports": ');
          Deno.chdir(dir);
          // Deno refuses the notebook's configuration before the runtime opens
          // its channel: its FIFO must end all the same.
          const broken = job(() => 1);
          const done = await Promise.race([
            broken.done,
            new Promise((r) => setTimeout(() => r("hung"), 20_000)),
          ]);
          assert.equal(done, "failed");
          assert.match(broken.error!.message, /deno\.json/);
          Deno.chdir(home);
          assert.equal(await job(() => 2), 2);
        });
      } finally {
        Deno.chdir(home);
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}
