/**
 * The kernel's one watcher: when the process that started it dies, every
 * process group it still lists is killed and its directory removed; a group
 * dropped from the list (its id may be another's by then) is left alone.
 */
import assert from "node:assert/strict";
import { eventually, isAlive } from "../_procs.ts";

const WATCHER = new URL("../../lib/launch/watcher.ts", import.meta.url).href;

// A process that starts three groups (`setsid sleep`), lists them with the
// watcher (their directories hold a space, as a TMPDIR may), drops the
// second, prints their pids and waits to be killed.
const owner = `
import { unwatchGroup, watchGroup } from "${WATCHER}";
const [base] = Deno.args;
const pids = [];
for (let i = 0; i < 3; i++) {
  const dir = base + "/group " + i;
  Deno.mkdirSync(dir);
  const child = new Deno.Command("setsid", { args: ["sleep", "1000"] }).spawn();
  child.unref();
  pids.push(child.pid);
  watchGroup(child.pid, dir);
}
unwatchGroup(pids[1]);
console.log(JSON.stringify(pids));
await new Promise(() => {});
`;

Deno.test("a dead kernel's watcher kills the groups it lists, and only those", async () => {
  const base = await Deno.makeTempDir();
  const pids: number[] = [];
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", owner, base],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    pids.push(...JSON.parse(text) as number[]);
    assert.equal(pids.length, 3);
    // `setsid` has made each group by the time it runs `sleep`.
    assert.ok(await eventually(() => pids.every(isAlive), 2000));
    // The list reached the watcher before the kernel died.
    await new Promise((r) => setTimeout(r, 200));
    child.kill("SIGKILL");
    await child.status;
    reader.cancel().catch(() => {});
    assert.ok(
      await eventually(() => !isAlive(pids[0]) && !isAlive(pids[2]), 3000),
      "the listed groups were killed",
    );
    assert.ok(isAlive(pids[1]), "the group dropped from the list lives");
    // Each group's directory goes just after its kill: waited for.
    const left = () => [...Deno.readDirSync(base)].map((e) => e.name);
    await eventually(() => left().length === 1, 3000);
    assert.deepEqual(
      left(),
      ["group 1"],
      "the listed groups' directories were removed",
    );
  } finally {
    for (const pid of pids) {
      try {
        Deno.kill(-pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await Deno.remove(base, { recursive: true });
  }
});
