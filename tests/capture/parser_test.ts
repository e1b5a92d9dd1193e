/**
 * bgjobs' parser comes from a file it builds once in its cache
 * (`lib/capture/parser.ts`), not from an `npm:` import the notebook's configuration
 * would resolve: built on first use (by kernels racing, too), rebuilt when
 * the file is not a whole module, and a clear error when it cannot be built.
 * Each case loads it in a fresh process, with a cache of its own.
 */
import assert from "node:assert/strict";

const PARSER = new URL("../../lib/capture/parser.ts", import.meta.url).href;
const FILE = "babel-parser-7.26.3.min.js";

const CODE = `const { parse } = await import(${JSON.stringify(PARSER)});
  const ast = parse("1 + 1", { sourceType: "module", plugins: [], allowAwaitOutsideFunction: true });
  console.log(ast.program.body[0].expression.operator);`;

/** Loads the parser in a new process, in `cwd`, and parses `1 + 1` there. */
async function load(
  cache: string,
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ ok: boolean; out: string }> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["eval", CODE],
    cwd,
    env: { BGJOBS_CACHE_DIR: cache, NO_COLOR: "1", ...env },
  }).output();
  const text = new TextDecoder();
  return {
    ok: result.success,
    out: text.decode(result.stdout) + text.decode(result.stderr),
  };
}

Deno.test("the parser is built on first use, in a folder with a package.json, by racing processes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bgjobs_parser_" });
  try {
    // A project Deno would resolve npm: specifiers from: the build is not.
    await Deno.writeTextFile(`${dir}/package.json`, "{}");
    const cache = `${dir}/cache`;
    const loads = await Promise.all([load(cache, dir), load(cache, dir)]);
    for (const { ok, out } of loads) assert.ok(ok && out.trim() === "+", out);
    assert.deepEqual([...Deno.readDirSync(cache)].map((e) => e.name), [FILE]);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      ["cache", "package.json"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a cached parser that is not a whole module is built again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bgjobs_parser_" });
  try {
    await Deno.writeTextFile(`${dir}/${FILE}`, "export const parse = (");
    const { ok, out } = await load(dir, dir);
    assert.ok(ok && out.trim() === "+", out);
    assert.ok(Deno.statSync(`${dir}/${FILE}`).size > 100_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a parser that cannot be built is a clear error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bgjobs_parser_" });
  try {
    // A file where the cache directory should be.
    await Deno.writeTextFile(`${dir}/cache`, "");
    const { ok, out } = await load(`${dir}/cache`, dir);
    assert.equal(ok, false);
    assert.match(
      out,
      /Cannot load bgjobs' parser: building it \(npm:@babel\/parser@7\.26\.3\) into .*\/cache\/babel-parser-7\.26\.3\.min\.js failed: .*set BGJOBS_CACHE_DIR to a writable directory/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a script that may not read HOME builds the parser for itself, and leaves nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bgjobs_parser_" });
  try {
    await Deno.writeTextFile(`${dir}/package.json`, "{}");
    await Deno.writeTextFile(`${dir}/script.ts`, CODE);
    await Deno.mkdir(`${dir}/tmp`);
    const result = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--allow-read",
        "--allow-write",
        "--allow-run",
        "script.ts",
      ],
      cwd: dir,
      env: { TMPDIR: `${dir}/tmp`, NO_COLOR: "1" },
    }).output();
    const out = new TextDecoder().decode(result.stdout);
    const err = new TextDecoder().decode(result.stderr);
    assert.equal(out.trim(), "+", err);
    assert.deepEqual([...Deno.readDirSync(`${dir}/tmp`)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
