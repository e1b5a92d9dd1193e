import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

Deno.test("a task on a fresh machine downloads nothing it does not use (no test-only npm packages)", async () => {
  const denoDir = await Deno.makeTempDir({ prefix: "bgjobs_denodir_" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "bundle", "--check"],
      cwd: ROOT,
      env: { DENO_DIR: denoDir, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert.ok(out.success, err);
    assert.doesNotMatch(err, /Download/, err);
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
});
