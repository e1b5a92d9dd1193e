import assert from "node:assert/strict";
import { installKernelspec } from "../../kernel_ext/install.ts";

const INSTALL = new URL("../../kernel_ext/install.ts", import.meta.url).href;

Deno.test("installKernelspec() writes a message-interrupted Deno (bgjobs) kernel", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await installKernelspec({ dir });
    const spec = JSON.parse(await Deno.readTextFile(`${dir}/kernel.json`));
    assert.equal(spec.display_name, "Deno (bgjobs)");
    assert.equal(spec.interrupt_mode, "message");
    assert.deepEqual(spec.argv.slice(1), [
      "jupyter",
      "--kernel",
      "--conn",
      "{connection_file}",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kernel:install run through npx writes a Deno that outlives npx's cache", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    // A Deno where `npx deno@…` unpacks one, first on PATH as under npx.
    const npxBin = `${tmp}/_npx/0123abcd/node_modules/.bin`;
    await Deno.mkdir(npxBin, { recursive: true });
    await Deno.copyFile(Deno.execPath(), `${npxBin}/deno`);
    await Deno.chmod(`${npxBin}/deno`, 0o755);
    const stable = `${tmp}/bin`;
    await Deno.mkdir(stable);
    await Deno.symlink(Deno.execPath(), `${stable}/deno`);
    const install = async (path: string) => {
      const out = await new Deno.Command(`${npxBin}/deno`, {
        args: ["run", "-A", "--no-config", INSTALL, "--dir", `${tmp}/k`],
        env: { PATH: path },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      const spec = JSON.parse(await Deno.readTextFile(`${tmp}/k/kernel.json`));
      return {
        deno: spec.argv[0],
        stderr: new TextDecoder().decode(out.stderr),
      };
    };
    const found = await install(`${npxBin}:${stable}:/usr/bin:/bin`);
    assert.equal(found.deno, Deno.realPathSync(Deno.execPath()));
    assert.equal(found.stderr, "");
    const only = await install(`${npxBin}:/nonexistent`);
    assert.equal(only.deno, `${npxBin}/deno`);
    assert.match(
      only.stderr,
      /npx's cache.*npm i -g deno@2\.9\.6.*--deno PATH/,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
