/**
 * Runtimes started straight from the kernel (`posix_spawn` through libc):
 * each leads a session of its own with no shell between it and the kernel,
 * its stdout and stderr keep their order, a process without the `ffi`
 * permission takes a launcher instead, and a kernel killed at any moment of
 * a start leaves no runtime and no channel directory.
 */
import assert from "node:assert/strict";
import { job } from "../../mod.ts";
import { jobTest, pidJob, shared, withoutWarm } from "../_util.ts";
import { eventually, isAlive, namingAlive } from "../_procs.ts";
import { spawnDirect } from "../../lib/launch/direct_child.ts";

const MOD = new URL("../../mod.ts", import.meta.url).href;

/** State, parent, group and session of `pid`, from /proc. */
function ids(pid: number): { ppid: number; pgid: number; sid: number } {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    sid: Number(fields[3]),
  };
}

jobTest(
  "a runtime started directly is the kernel's child and leads a session of its own",
  async () => {
    await withoutWarm(async () => {
      const j = pidJob("await new Promise(() => {})");
      const pid = await shared<number>(j, "pid");
      try {
        assert.deepEqual(ids(pid), { ppid: Deno.pid, pgid: pid, sid: pid });
        const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
        assert.equal(cmdline.split("\0")[0], Deno.execPath());
      } finally {
        await j.kill();
      }
      assert.equal(j.status, "killed");
      assert.ok(await eventually(() => !isAlive(pid)), "the runtime is gone");
    });
  },
);

jobTest(
  "a runtime started directly keeps its stdout and stderr in the order written",
  async () => {
    await withoutWarm(async () => {
      const j = job(() => {
        const text = new TextEncoder();
        for (let i = 0; i < 5; i++) {
          Deno.stdout.writeSync(text.encode(`out ${i}\n`));
          Deno.stderr.writeSync(text.encode(`err ${i}\n`));
        }
      });
      await j;
      const lines = j.logs.trim().split("\n");
      assert.deepEqual(
        lines,
        [0, 1, 2, 3, 4].flatMap((i) => [`out ${i}`, `err ${i}`]),
      );
    });
  },
);

jobTest(
  "a runtime started directly that exits by itself is reaped with its exit code",
  async () => {
    await withoutWarm(async () => {
      for (const code of [0, 3, 77]) {
        const j = job(`Deno.exit(${code})`);
        const done = await j.done;
        if (code === 0) assert.equal(done, "failed");
        else assert.match(j.error!.message, new RegExp(`code ${code}\\b`));
      }
      assert.equal(await job(() => "next"), "next");
    });
  },
);

Deno.test("spawnDirect() says what it could not start, and leaves the directory as it was", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      spawnDirect({
        command: [`${dir}/missing`],
        env: {},
        cwd: "/",
        dir,
      }),
      /Cannot start .*missing/,
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    // A working directory gone meanwhile: the child starts in /.
    const child = await spawnDirect({
      command: ["/bin/sh", "-c", "pwd; echo $X >&2"],
      env: { X: "it's set" },
      cwd: `${dir}/gone`,
      dir,
    });
    assert.equal(await new Response(child.stdout).text(), "/\nit's set\n");
    assert.deepEqual(await child.status, {
      success: true,
      code: 0,
      signal: null,
    });
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spawnDirect() reports a child killed by a signal as Deno does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const child = await spawnDirect({
      command: ["/bin/sh", "-c", "kill -TERM $$"],
      env: {},
      cwd: "/",
      dir,
    });
    await child.stdout.cancel();
    const status = await child.status;
    const deno = await new Deno.Command("/bin/sh", {
      args: ["-c", "kill -TERM $$"],
    }).output();
    assert.deepEqual(status, {
      success: deno.success,
      code: deno.code,
      signal: deno.signal,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** How many launchers, shells that are to become runtimes, `pid` has. */
function launchersOf(pid: number): number {
  return namingAlive("bgjobs-runtime").filter((child) => {
    const cmdline = Deno.readTextFileSync(`/proc/${child}/cmdline`);
    return !cmdline.includes("deno") && ids(child).ppid === pid;
  }).length;
}

/** Runs `code` as a script with a TMPDIR of its own, `ffi` or not. */
async function script(
  code: string,
  tmp: string,
  ffi: boolean,
): Promise<Deno.Command> {
  await Deno.writeTextFile(`${tmp}/script.ts`, code);
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      ...ffi
        ? ["-A"]
        : ["--allow-read", "--allow-write", "--allow-run", "--allow-env"],
      `${tmp}/script.ts`,
    ],
    env: { TMPDIR: `${tmp}/tmp` },
    stdout: "piped",
    stderr: "piped",
  });
}

Deno.test("without the ffi permission runtimes come from launchers, and jobs run the same", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${tmp}/tmp`);
    const code = `import { job, jobs } from ${JSON.stringify(MOD)};
      jobs.configure({ warm: 0 });
      const j = job(() => { console.log("out"); console.error("err"); return 7; });
      const value = await j;
      console.log(JSON.stringify({ value, logs: j.logs }));
      await new Promise((r) => setTimeout(r, 1000));
      await jobs.shutdown();`;
    for (const ffi of [true, false]) {
      const child = (await script(code, tmp, ffi)).spawn();
      const lines = child.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      const { value: line } = await lines.read();
      const got = JSON.parse(line!.trim());
      assert.equal(got.value, 7);
      assert.equal(got.logs, "out\nerr\n");
      // A launcher made ahead: a shell of the script's that is to become a
      // runtime.
      const made = await eventually(() => launchersOf(child.pid) > 0, 800);
      assert.equal(made, !ffi, ffi ? "no launcher with ffi" : "a launcher");
      const out = await child.status;
      lines.cancel().catch(() => {});
      assert.ok(out.success, await new Response(child.stderr).text());
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a process SIGKILLed at any moment while it starts runtimes directly leaves no runtime and no channel directory", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${tmp}/tmp`);
    // Cold runtimes started back to back, each killed as soon as it runs: a
    // SIGKILL lands anywhere in a start, before and after the directory is
    // made and the runtime spawned.
    const code = `import { job, jobs } from ${JSON.stringify(MOD)};
      jobs.configure({ warm: 0 });
      console.log("up");
      while (true) {
        const j = job(() => new Promise(() => {}));
        await new Promise((r) => setTimeout(r, Math.random() * 20));
        await j.kill();
      }`;
    let seen = 0;
    for (let round = 0; round < 12; round++) {
      const child = (await script(code, tmp, true)).spawn();
      const reader = child.stdout.getReader();
      await reader.read(); // "up"
      const until = Date.now() + 40 + 23 * round;
      while (Date.now() < until) {
        seen += namingAlive(`${tmp}/tmp`).length;
        await new Promise((r) => setTimeout(r, 2));
      }
      child.kill("SIGKILL");
      await child.status;
      reader.cancel().catch(() => {});
      await child.stderr.cancel().catch(() => {});
    }
    assert.ok(seen > 0, "the processes started runtimes");
    assert.ok(
      await eventually(
        () =>
          namingAlive(`${tmp}/tmp`).length === 0 &&
          Deno.readDirSync(`${tmp}/tmp`).toArray().length === 0,
        5000,
      ),
      `left: processes ${namingAlive(`${tmp}/tmp`)}, files ${
        [...Deno.readDirSync(`${tmp}/tmp`)].map((e) => e.name)
      }`,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
