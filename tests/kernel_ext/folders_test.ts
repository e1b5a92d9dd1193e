/**
 * bgjobs in real kernels started in notebook folders of every kind Deno
 * configures from: a package.json (here or above) with or without
 * node_modules, a deno.json with `imports`, with `"nodeModulesDir"` manual
 * or auto, with a frozen lock file (in a workspace member). In each:
 * importing bgjobs works, a capturing job returns, a code job imports what a
 * cell imports (and so does a function job's `import()`), a denied
 * permission fails only its job, and none of the folder's files changes.
 * Then bgjobs loaded over HTTP, as from a registry, beside a package.json.
 * One kernel per folder, one after the other.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Kernel, MOD_URL, REPO_ROOT, startKernel } from "../_kernel.ts";

type Tree = Record<string, string>;

const TWICE = "export const twice = (n: number): number => 2 * n;\n";

interface Folder {
  name: string;
  /** Files of the project, by path. */
  files: Tree;
  /** The notebook's directory in it. @default {"."} */
  notebook?: string;
  /** What a cell and a code job import `twice` (and `base`) from. */
  imports: string;
  /** More environment for the kernel. */
  env?: Record<string, string>;
}

const json = (value: unknown) => JSON.stringify(value, null, 2) + "\n";

// A package in node_modules as npm would leave it (no network): ESM with
// conditional exports, and a CommonJS one, which only a Deno that knows the
// node_modules directory loads (named exports from `exports.x`).
const NODE_MODULES: Tree = {
  "node_modules/twice/package.json": json({
    name: "twice",
    version: "1.0.0",
    type: "module",
    exports: { ".": { require: "./twice.cjs", import: "./twice.js" } },
  }),
  "node_modules/twice/twice.js": TWICE.replaceAll(": number", ""),
  "node_modules/twice/twice.cjs": "exports.twice = (n) => -1;\n",
  "node_modules/base/package.json": json({
    name: "base",
    version: "1.0.0",
    main: "lib.js",
  }),
  "node_modules/base/lib.js": "exports.base = 21;\n",
};

const BASE = "export const base = 21;\n";

const FOLDERS: Folder[] = [
  {
    name: "package.json without node_modules",
    files: {
      "package.json": json({ name: "notebook", private: true }),
      "twice.ts": TWICE,
      "base.ts": BASE,
    },
    imports:
      'import { twice } from "./twice.ts"; import { base } from "./base.ts";',
    // The parser is built in this kernel: no cache to start from.
    env: { BGJOBS_CACHE_DIR: "" },
  },
  {
    name: "package.json with node_modules, in the folder above",
    files: {
      "package.json": json({
        name: "notebook",
        private: true,
        dependencies: { twice: "1.0.0", base: "1.0.0" },
      }),
      ...NODE_MODULES,
      "notebooks/.keep": "",
    },
    notebook: "notebooks",
    imports: 'import { twice } from "twice"; import { base } from "base";',
  },
  {
    name: "deno.json with imports",
    files: {
      "deno.json": json({
        imports: { "twice": "./lib/twice.ts", "lib/": "./lib/" },
      }),
      "lib/twice.ts": TWICE,
      "lib/base.ts": BASE,
    },
    imports:
      'import { twice } from "twice"; import { base } from "lib/base.ts";',
  },
  {
    name: 'deno.json with "nodeModulesDir": "manual"',
    files: {
      "deno.jsonc":
        '// comments, as Deno allows\n{ "nodeModulesDir": "manual",' +
        ' "imports": { "twice": "./twice.ts", }, }\n',
      "package.json": json({ private: true, dependencies: { base: "1.0.0" } }),
      ...NODE_MODULES,
      "twice.ts": TWICE,
    },
    imports: 'import { twice } from "twice"; import { base } from "base";',
  },
  {
    name: 'deno.json with "nodeModulesDir": "auto"',
    files: {
      "deno.json": json({
        nodeModulesDir: "auto",
        imports: { "twice": "./twice.ts", "base": "./base.ts" },
      }),
      "twice.ts": TWICE,
      "base.ts": BASE,
    },
    imports: 'import { twice } from "twice"; import { base } from "base";',
  },
  {
    name: "deno.json with a frozen lock file, in a workspace member",
    files: {
      "deno.json": json({
        workspace: ["./member"],
        imports: { "base": "./base.ts" },
        lock: { frozen: true },
      }),
      "deno.lock": json({ version: "5" }),
      "base.ts": BASE,
      "member/deno.json": json({ imports: { "twice": "./twice.ts" } }),
      "member/twice.ts": TWICE,
    },
    notebook: "member",
    imports: 'import { twice } from "twice"; import { base } from "base";',
  },
];

async function writeTree(root: string, files: Tree): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    const file = join(root, path);
    await Deno.mkdir(join(file, ".."), { recursive: true });
    await Deno.writeTextFile(file, text);
  }
}

/** Every entry under `root`: a file's text, a directory, a link's target. */
async function snapshot(root: string): Promise<Tree> {
  const tree: Tree = {};
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      const key = path.slice(root.length + 1);
      if (entry.isSymlink) tree[key] = `-> ${await Deno.readLink(path)}`;
      else if (entry.isDirectory) {
        tree[key] = "(directory)";
        await walk(path);
      } else tree[key] = await Deno.readTextFile(path);
    }
  }
  await walk(root);
  return tree;
}

/** What changed from `before` to `after`: `+ path`, `- path`, `~ path`. */
function changes(before: Tree, after: Tree): string[] {
  const found: string[] = [];
  for (const path of Object.keys(after)) {
    if (!(path in before)) found.push(`+ ${path}`);
    else if (after[path] !== before[path]) found.push(`~ ${path}`);
  }
  for (const path of Object.keys(before)) {
    if (!(path in after)) found.push(`- ${path}`);
  }
  return found.sort();
}

function assertUnchanged(before: Tree, after: Tree, what: string): void {
  const found = changes(before, after);
  assert.ok(
    found.length === 0,
    `${what} changed the notebook's folder:\n${found.slice(0, 20).join("\n")}`,
  );
}

async function ok(k: Kernel, code: string, timeout?: number): Promise<string> {
  const cell = await k.execute(code, { timeout });
  assert.equal(cell.status, "ok", cell.describe());
  return cell.text ?? "";
}

/** `import { a } from "x";` statements as `const { a } = await import("x");`. */
function dynamic(imports: string): string {
  return imports.replace(
    /import \{ (\w+) \} from ("[^"]+");/g,
    "const { $1 } = await import($2);",
  );
}

/** The cells every folder runs, with bgjobs imported from `mod`. */
async function checkFolder(
  t: Deno.TestContext,
  k: Kernel,
  mod: string,
  imports: string,
): Promise<void> {
  await t.step("importing bgjobs works", async () => {
    // The first import on a machine builds the parser (~0.5 s).
    await ok(k, `import { job, jobs } from "${mod}";`, 120_000);
  });

  await t.step("a job capturing a notebook name returns", async () => {
    assert.equal(await ok(k, "const x = 41;\nawait job(() => x + 1)"), "42");
  });

  await t.step("a code job imports what a cell imports", async () => {
    assert.equal(await ok(k, `${imports}\ntwice(base)`), "42");
    const code = `${imports}\nexport const y = twice(base);`;
    assert.equal(await ok(k, `(await job(${JSON.stringify(code)})).y`), "42");
    // As a dynamic import in the code, too.
    const expression = `(async () => { ${
      dynamic(imports)
    } return twice(base); })()`;
    assert.equal(await ok(k, `await job(${JSON.stringify(expression)})`), "42");
  });

  await t.step("a function job's import() resolves as a cell's", async () => {
    const fn = `async () => { ${dynamic(imports)} return twice(base); }`;
    assert.equal(await ok(k, `await job(${fn})`), "42");
  });

  await t.step(
    "a denied permission fails the job, the kernel lives",
    async () => {
      const text = await ok(
        k,
        `const denied = job(() => Deno.readTextFile("/etc/hostname"), { permissions: "none" });
      await denied.done;
      [denied.status, denied.error?.message.match(/NotCapable: Requires read access/)?.[0]].join(", ")`,
      );
      assert.equal(text, '"failed, NotCapable: Requires read access"');
      assert.equal(await ok(k, "1 + 1"), "2");
    },
  );
}

for (const folder of FOLDERS) {
  Deno.test(`bgjobs in a notebook folder with a ${folder.name}`, async (t) => {
    const root = await Deno.makeTempDir({ prefix: "bgjobs_folder_" });
    const cache = await Deno.makeTempDir({ prefix: "bgjobs_cache_" });
    try {
      await writeTree(root, folder.files);
      const before = await snapshot(root);
      const env = { ...folder.env };
      if (env.BGJOBS_CACHE_DIR === "") env.BGJOBS_CACHE_DIR = cache;
      {
        await using k = await startKernel({
          cwd: join(root, folder.notebook ?? "."),
          env,
        });
        await checkFolder(t, k, MOD_URL, folder.imports);
      }
      if (env.BGJOBS_CACHE_DIR) {
        const built = [...Deno.readDirSync(cache)].map((e) => e.name);
        assert.deepEqual(built, ["babel-parser-7.26.3.min.js"]);
      }
      assertUnchanged(before, await snapshot(root), "the kernel with bgjobs");
    } finally {
      await Deno.remove(root, { recursive: true });
      await Deno.remove(cache, { recursive: true });
    }
  });
}

/** Serves `dir` read-only on 127.0.0.1, as a registry serves a package. */
function serveDirectory(dir: string): Deno.HttpServer<Deno.NetAddr> {
  const types: Record<string, string> = {
    ts: "application/typescript",
    js: "application/javascript",
    json: "application/json",
  };
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen(): void {} },
    async (request) => {
      const path = decodeURIComponent(new URL(request.url).pathname);
      if (path.split("/").includes("..")) {
        return new Response("bad path", { status: 400 });
      }
      try {
        const body = await Deno.readFile(join(dir, path));
        const type = types[path.split(".").pop() ?? ""] ?? "text/plain";
        return new Response(body, { headers: { "content-type": type } });
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
}

Deno.test("bgjobs imported over HTTP in a folder with a package.json", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "bgjobs_folder_" });
  const server = serveDirectory(REPO_ROOT);
  try {
    await writeTree(root, {
      "package.json": json({ name: "notebook", private: true }),
      "twice.ts": TWICE,
      "base.ts": BASE,
    });
    const before = await snapshot(root);
    let imported: Tree;
    {
      await using k = await startKernel({ cwd: root });
      const mod = `http://127.0.0.1:${server.addr.port}/mod.ts`;
      // Deno's kernel itself writes a deno.lock beside the package.json for
      // the remote modules a cell imports (as for any `jsr:` or `https:`
      // import): that is the notebook's doing. What bgjobs does after it
      // must change nothing.
      await ok(k, `import { job, jobs } from "${mod}";`, 120_000);
      imported = await snapshot(root);
      const { "deno.lock": lock, ...rest } = imported;
      assertUnchanged(before, rest, "importing bgjobs");
      if (lock) assert.doesNotMatch(lock, /_runtime_bundle/);
      await checkFolder(
        t,
        k,
        mod,
        'import { twice } from "./twice.ts"; import { base } from "./base.ts";',
      );
      await t.step("the job runtime came from the server too", async () => {
        const text = await ok(
          k,
          `(await job(() => Deno.mainModule)).startsWith("http://127.0.0.1:")`,
        );
        assert.equal(text, "true");
      });
    }
    assertUnchanged(imported, await snapshot(root), "running jobs");
  } finally {
    await server.shutdown();
    await Deno.remove(root, { recursive: true });
  }
});
