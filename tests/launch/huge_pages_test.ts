// Huge pages for a big result's fresh buffer: asked for where the process
// may (the ffi permission, glibc, transparent huge pages on request), never
// prompting, and never changing what the buffer holds.
import assert from "node:assert/strict";
import { adviseHugePages } from "../../lib/launch/huge_pages.ts";

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

Deno.test("without the ffi permission nothing is asked, and nothing prompts", async () => {
  const mod = new URL("../../lib/launch/huge_pages.ts", import.meta.url).href;
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      script,
      `import { adviseHugePages } from ${JSON.stringify(mod)};
       console.log(adviseHugePages(new Uint8Array(2 ** 24)));`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-config", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "false");
  } finally {
    await Deno.remove(script);
  }
});
