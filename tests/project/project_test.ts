/**
 * The notebook's project as bgjobs reads it (`lib/project/project.ts`): the flags a
 * job runtime gets, and where a code job's imports lead, in folders of each
 * kind; and how a bare specifier resolves in node_modules
 * (`lib/project/node_modules.ts`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { projectOf, resolveImport } from "../../lib/project/project.ts";
import { resolvePackage } from "../../lib/project/node_modules.ts";
import { captureCode, captureFunction } from "../../lib/capture/capture.ts";

async function folder(files: Record<string, string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "bgjobs_project_" });
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(join(root, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(root, path), text);
  }
  return root;
}

const url = (path: string) => pathToFileURL(path).href;

Deno.test("a runtime gets the nearest deno.json named, without its lock", async () => {
  const root = await folder({
    "deno.json": '{ "imports": { "a": "./a.ts" } }',
    "package.json": "{}",
    "sub/dir/.keep": "",
  });
  try {
    const project = projectOf(join(root, "sub/dir"));
    assert.deepEqual(project.flags, [
      "--config",
      join(root, "deno.json"),
      "--no-lock",
    ]);
    assert.equal(project.nodeModules, true, "a package.json beside it");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("without a deno.json, a package.json makes node_modules manual", async () => {
  const root = await folder({ "package.json": "{}", "nb/.keep": "" });
  const bare = await folder({ "nb/.keep": "" });
  try {
    assert.deepEqual(projectOf(join(root, "nb")).flags, [
      "--no-config",
      "--node-modules-dir=manual",
    ]);
    // (A package.json above the temporary directory would change this.)
    if (!projectOf(bare).config && !projectOf(bare).nodeModules) {
      assert.deepEqual(projectOf(join(bare, "nb")).flags, ["--no-config"]);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(bare, { recursive: true });
  }
});

Deno.test("a code job's imports resolve as a cell's", async () => {
  const root = await folder({
    "deno.jsonc": `// a comment
      {
        "imports": {
          "a": "./lib/a.ts", /* another */
          "lib/": "./lib/",
          "std/": "jsr:@std/",
        },
        "nodeModulesDir": "none",
      }`,
  });
  try {
    const project = projectOf(root);
    assert.equal(project.config, join(root, "deno.jsonc"));
    assert.equal(project.nodeModules, false);
    const resolve = (specifier: string) => resolveImport(specifier, project);
    assert.equal(resolve("a"), url(join(root, "lib/a.ts")));
    assert.equal(resolve("lib/b/c.ts"), url(join(root, "lib/b/c.ts")));
    assert.equal(resolve("std/path"), "jsr:@std/path");
    assert.equal(resolve("./x.ts"), url(join(root, "x.ts")));
    assert.equal(resolve("../y.ts"), url(join(root, "../y.ts")));
    assert.equal(resolve("/abs.ts"), "file:///abs.ts");
    for (const kept of ["npm:x@1", "jsr:@std/path", "node:fs", "https://a/b"]) {
      assert.equal(resolve(kept), undefined, kept);
    }
    assert.equal(resolve("unknown"), undefined);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("an importMap file is read when deno.json has no imports", async () => {
  const root = await folder({
    "deno.json": '{ "importMap": "./maps/map.json" }',
    "maps/map.json": '{ "imports": { "a": "../a.ts" } }',
  });
  try {
    const project = projectOf(root);
    assert.equal(resolveImport("a", project), url(join(root, "a.ts")));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

const pkg = (manifest: unknown) => JSON.stringify(manifest);

Deno.test("a bare specifier leads to the package's file as Deno imports it", async () => {
  const root = await folder({
    "node_modules/cond/package.json": pkg({
      exports: {
        ".": {
          types: "./t.d.ts",
          require: "./r.cjs",
          browser: "./b.js",
          import: "./i.js",
          default: "./d.js",
        },
        "./feature/*.js": { node: "./f/*.mjs" },
        "./feature/special/*.js": "./special/*.js",
        "./hidden": null,
      },
    }),
    "node_modules/cond/i.js": "",
    "node_modules/cond/f/x.mjs": "",
    "node_modules/cond/special/y.js": "",
    "node_modules/sugar/package.json": pkg({ exports: "./main.js" }),
    "node_modules/sugar/main.js": "",
    "node_modules/@scope/old/package.json": pkg({ main: "lib/entry" }),
    "node_modules/@scope/old/lib/entry.js": "",
    "node_modules/@scope/old/extra/index.js": "",
    "node_modules/plain/index.js": "",
    "node_modules/cjsonly/package.json": pkg({ exports: { require: "./r" } }),
    "a/b/.keep": "",
  });
  try {
    const from = join(root, "a/b");
    const at = (path: string) => url(join(root, "node_modules", path));
    assert.equal(resolvePackage("cond", from), at("cond/i.js"));
    assert.equal(resolvePackage("cond/feature/x.js", from), at("cond/f/x.mjs"));
    assert.equal(
      resolvePackage("cond/feature/special/y.js", from),
      at("cond/special/y.js"),
      "the longest pattern wins",
    );
    assert.equal(resolvePackage("cond/hidden", from), undefined);
    assert.equal(resolvePackage("cond/i.js", from), undefined, "not exported");
    assert.equal(resolvePackage("sugar", from), at("sugar/main.js"));
    assert.equal(
      resolvePackage("@scope/old", from),
      at("@scope/old/lib/entry.js"),
    );
    assert.equal(
      resolvePackage("@scope/old/extra", from),
      at("@scope/old/extra/index.js"),
    );
    assert.equal(resolvePackage("plain", from), at("plain/index.js"));
    assert.equal(resolvePackage("cjsonly", from), undefined);
    assert.equal(resolvePackage("missing", from), undefined);
    assert.equal(resolvePackage(".hidden", from), undefined);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a runtime is never given a configuration file that is gone", async () => {
  const root = await folder({ "deno.json": "{}", "package.json": "{}" });
  try {
    assert.equal(projectOf(root).flags[0], "--config");
    await Deno.remove(join(root, "deno.json"));
    assert.deepEqual(projectOf(root).flags, [
      "--no-config",
      "--node-modules-dir=manual",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a function job's own import() calls resolve as a code job's", async () => {
  const root = await folder({
    "deno.json": '{ "imports": { "a": "./a.ts" } }',
  });
  const cwd = Deno.cwd();
  Deno.chdir(root);
  try {
    const a = JSON.stringify(url(join(root, "a.ts")));
    const b = JSON.stringify(url(join(root, "b.ts")));
    const fn = captureFunction(async () => [
      await import("a"),
      // @ts-ignore: resolved in the job's folder, which has it
      await import("./b.ts"),
      await import("node:path"),
    ]);
    assert.match(
      fn.run ?? "",
      new RegExp(`import\\(${a}\\)[^]*import\\(${b}\\)`),
    );
    assert.match(fn.run ?? "", /import\("node:path"\)/);
    const code = captureCode('import x from "a";\nexport { y } from "./b.ts";');
    assert.equal(code.run, `import x from ${a};\nexport { y } from ${b};`);
    assert.equal(captureFunction(() => 1).run, undefined);
  } finally {
    Deno.chdir(cwd);
    await Deno.remove(root, { recursive: true });
  }
});
