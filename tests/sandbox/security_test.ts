import assert from "node:assert/strict";
import { job, jobs, share } from "../../mod.ts";
import { allProcesses } from "../_procs.ts";
import { jobTest, shared } from "../_util.ts";

const failure = async (j: PromiseLike<unknown>): Promise<string> => {
  try {
    await j;
    return "";
  } catch (error) {
    return (error as Error).message;
  }
};

jobTest('{ net: ["127.0.0.1:PORT"] } reaches that port only', async () => {
  const open = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    for await (const conn of open) conn.close();
  })();
  try {
    const connect = (port: number) =>
      `Deno.connect({ hostname: "127.0.0.1", port: ${port} }).then((c) => (c.close(), "connected"))`;
    const permissions = { net: [`127.0.0.1:${open.addr.port}`] };
    assert.equal(
      await job(`${connect(open.addr.port)}`, { permissions }),
      "connected",
    );
    const denied = await failure(
      job(connect(other.addr.port), { permissions }),
    );
    assert.match(
      denied,
      new RegExp(`Requires net access to "127.0.0.1:${other.addr.port}"`),
    );
    const outside = await failure(
      job(`fetch("http://example.com/")`, { permissions }),
    );
    assert.match(outside, /Requires net access to "example.com/);
  } finally {
    open.close();
    other.close();
    await accepting.catch(() => {});
  }
});

jobTest(
  "{ read: [dir] } cannot read outside dir, through .. or through a symlink",
  async () => {
    const root = await Deno.makeTempDir();
    const dir = `${root}/allowed`;
    await Deno.mkdir(dir);
    await Deno.writeTextFile(`${dir}/inside.txt`, "inside");
    await Deno.writeTextFile(`${root}/secret.txt`, "secret");
    await Deno.symlink(`${root}/secret.txt`, `${dir}/link.txt`);
    try {
      const read = (path: string) =>
        job(`Deno.readTextFileSync(${JSON.stringify(path)})`, {
          permissions: { read: [dir] },
        });
      assert.equal(await read(`${dir}/inside.txt`), "inside");
      assert.match(
        await failure(read(`${dir}/../secret.txt`)),
        /Requires read access/,
      );
      assert.match(
        await failure(read(`${dir}/link.txt`)),
        /Requires read access/,
      );
      assert.match(await failure(read("/etc/passwd")), /Requires read access/);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
);

jobTest("a job without run cannot start a process, not even deno", async () => {
  const escape = `new Deno.Command(${
    JSON.stringify(Deno.execPath())
  }, { args: ["eval", "1"] }).outputSync()`;
  assert.match(
    await failure(
      job(escape, { permissions: { read: true, write: true, net: true } }),
    ),
    /Requires run access/,
  );
});

jobTest(
  "a job without env or read cannot learn the kernel's environment or connection key",
  async () => {
    Deno.env.set("JPY_SESSION_KEY_FOR_TEST", "hmac-secret-123");
    try {
      const probes = [
        `Deno.env.get("JPY_SESSION_KEY_FOR_TEST") ?? ""`,
        `Deno.readTextFileSync("/proc/${Deno.pid}/environ")`,
        `Deno.readTextFileSync("/proc/${Deno.pid}/cmdline")`,
        `Deno.readTextFileSync("/proc/self/environ")`,
      ];
      for (const probe of probes) {
        const j = job(probe, { permissions: { net: true, write: true } });
        await j.done;
        assert.ok(
          j.status === "failed" ||
            !String(j.result).includes("hmac-secret-123"),
          probe,
        );
      }
      // With read but without env: Deno refuses /proc/<pid>/environ without
      // --allow-all, and the runtime's own environment holds no secret anyway.
      const own = job(
        `Deno.readTextFileSync("/proc/" + Deno.pid + "/environ")`,
        {
          permissions: { read: true },
        },
      );
      await own.done;
      assert.ok(
        own.status === "failed" ||
          !String(own.result).includes("hmac-secret-123"),
      );
      const env = await job(() => JSON.stringify(Deno.env.toObject()), {
        permissions: { env: true, run: true },
      }) as string;
      assert.match(
        env,
        /hmac-secret-123/,
        "a control: granting env does pass it",
      );
    } finally {
      Deno.env.delete("JPY_SESSION_KEY_FOR_TEST");
    }
  },
);

jobTest("job runtimes listen on no network port", async () => {
  const j = job(async () => {
    share("pid", Deno.pid);
    await new Promise((r) => setTimeout(r, 60_000));
  });
  const pid = await shared<number>(j, "pid");
  const pgid = allProcesses().find((p) => p.pid === pid)!.pgid;
  const group = allProcesses().filter((p) => p.pgid === pgid).map((p) => p.pid);
  const sockets = new Set<string>();
  for (const member of group) {
    for (const fd of Deno.readDirSync(`/proc/${member}/fd`)) {
      try {
        const target = Deno.readLinkSync(`/proc/${member}/fd/${fd.name}`);
        const inode = target.match(/^socket:\[(\d+)\]$/)?.[1];
        if (inode) sockets.add(inode);
      } catch { /* closed meanwhile */ }
    }
  }
  const listening = ["tcp", "tcp6", "udp", "udp6"].flatMap((proto) =>
    Deno.readTextFileSync(`/proc/net/${proto}`).split("\n").slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f.length > 9 && sockets.has(f[9]))
  );
  assert.deepEqual(
    listening,
    [],
    "no TCP or UDP socket belongs to the runtime",
  );
  await j.kill();
});

jobTest("security tests leave no runtime behind", async () => {
  await jobs.shutdown();
});
