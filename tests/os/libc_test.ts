// Huge pages for a big result's fresh buffer: asked for where the process
// may (the ffi permission, glibc, transparent huge pages on request), never
// prompting, and never changing what the buffer holds.
import assert from "node:assert/strict";
import {
  adviseHugePages,
  makeFifo,
  touchOffThread,
} from "../../lib/os/libc.ts";

function thpOnRequest(): boolean {
  try {
    const mode = Deno.readTextFileSync(
      "/sys/kernel/mm/transparent_hugepage/enabled",
    );
    return /\[(always|madvise)\]/.test(mode);
  } catch {
    return false;
  }
}

Deno.test("a big fresh buffer asks for huge pages where the process may, and keeps its contents", () => {
  const bytes = new Uint8Array(8 * 2 ** 20 + 123);
  const asked = adviseHugePages(bytes);
  if (Deno.build.os === "linux" && thpOnRequest()) assert.equal(asked, true);
  assert.ok(bytes.every((b) => b === 0), "still zeros");
  bytes.fill(7, 5, 8 * 2 ** 20);
  assert.equal(bytes[5], 7);
  assert.equal(bytes[8 * 2 ** 20 + 122], 0);
  assert.equal(adviseHugePages(new Uint8Array(100)), false, "no whole page");
});

Deno.test("a FIFO made through libc is a FIFO with the mode asked for; an existing path is an error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/in`;
    if (!makeFifo(path, 0o600)) return; // no FFI here: the program is used
    const info = Deno.statSync(path);
    assert.equal(info.isFifo, true);
    assert.equal(info.mode! & 0o777, 0o600);
    assert.throws(() => makeFifo(path, 0o600), /Cannot make the FIFO/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a buffer touched on a blocking thread is zeroed there; an empty one is not asked for", async () => {
  const bytes = new Uint8Array(32 * 2 ** 20).fill(7);
  const touching = touchOffThread(bytes);
  assert.ok(touching instanceof Promise, "the call does not block");
  assert.equal(await touching, true);
  assert.ok(bytes.every((b) => b === 0));
  assert.equal(await touchOffThread(new Uint8Array(0)), false);
});

Deno.test("without the ffi permission nothing is asked, and nothing prompts", async () => {
  const mod = new URL("../../lib/os/libc.ts", import.meta.url).href;
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      script,
      `import { adviseHugePages, makeFifo, touchOffThread } from ${
        JSON.stringify(mod)
      };
       console.log(adviseHugePages(new Uint8Array(2 ** 24)), makeFifo("/nowhere/f", 0o600), await touchOffThread(new Uint8Array(8)));`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-config", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    assert.equal(
      new TextDecoder().decode(out.stdout).trim(),
      "false false false",
    );
  } finally {
    await Deno.remove(script);
  }
});
