/**
 * Checks that bgjobs' code imports one way: `deno task layers` (and
 * `tests/layers_test.ts`) reads the module graph with `deno info --json` and
 * reports every import cycle and every import against the layers below.
 *
 * @module
 */

/**
 * What each folder may import, besides its own modules. The direction:
 * `kernel_ext → api → engine → {capture, sandbox, launch, cluster} →
 * protocol → codec`; `runner` (a cluster's runner process) sits on `launch`
 * and `cluster`; the job runtime (`lib/runtime`, bundled into every job
 * process) sees only `protocol` and `codec`. `project` (the notebook's
 * deno.json and node_modules) and `deps` (npm dependencies from bgjobs'
 * cache) are leaves.
 */
export const LAYERS: Readonly<Record<string, readonly string[]>> = {
  "kernel_ext": ["lib/api", "lib/engine"],
  "lib/api": [
    "lib/engine",
    "lib/capture",
    "lib/sandbox",
    "lib/cluster",
    "lib/protocol",
    "lib/codec",
  ],
  "lib/runner": [
    "lib/launch",
    "lib/cluster",
    "lib/os",
    "lib/sandbox",
    "lib/protocol",
    "lib/codec",
  ],
  "lib/engine": [
    "lib/capture",
    "lib/sandbox",
    "lib/launch",
    "lib/cluster",
    "lib/protocol",
    "lib/codec",
  ],
  "lib/capture": ["lib/codec", "lib/project", "lib/deps"],
  "lib/sandbox": [],
  "lib/launch": [
    "lib/sandbox",
    "lib/project",
    "lib/protocol",
    "lib/codec",
    "lib/os",
  ],
  "lib/cluster": [
    "lib/sandbox",
    "lib/protocol",
    "lib/codec",
    "lib/deps",
    "lib/os",
  ],
  "lib/protocol": ["lib/codec"],
  "lib/codec": [],
  "lib/os": ["lib/protocol"],
  "lib/project": [],
  "lib/deps": [],
  "lib/runtime": ["lib/protocol", "lib/codec"],
};

/** Module → the modules it imports; paths relative to the repository. */
export type ModuleGraph = Map<string, string[]>;

const ROOT = new URL("../", import.meta.url);

/** The layer a module belongs to (`mod.ts` belongs to none: it may import all). */
export function layerOf(path: string): string | undefined {
  const folder = path.split("/").slice(0, path.startsWith("lib/") ? 2 : 1)
    .join("/");
  return folder in LAYERS ? folder : undefined;
}

function sourcesUnder(dir: URL, prefix: string): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory) {
      out.push(...sourcesUnder(new URL(`${entry.name}/`, dir), `${path}/`));
    } else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/**
 * The graph of `mod.ts` and every module under `lib/` and `kernel_ext/`,
 * from `deno info --json`.
 *
 * @returns The graph, local modules only.
 * @throws {Error} When `deno info` fails.
 */
export async function moduleGraph(): Promise<ModuleGraph> {
  const modules = [
    "mod.ts",
    ...sourcesUnder(new URL("lib/", ROOT), "lib/"),
    ...sourcesUnder(new URL("kernel_ext/", ROOT), "kernel_ext/"),
  ];
  const entry = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      entry,
      modules.map((m) => `import "${new URL(m, ROOT).href}";\n`).join(""),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--no-config", entry],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(
        `deno info failed: ${new TextDecoder().decode(out.stderr)}`,
      );
    }
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: {
        specifier: string;
        dependencies?: {
          code?: { specifier?: string };
          type?: { specifier?: string };
        }[];
      }[];
    };
    const local = (specifier = ""): string | undefined =>
      specifier.startsWith(ROOT.href)
        ? specifier.slice(ROOT.href.length)
        : undefined;
    const graph: ModuleGraph = new Map();
    for (const module of info.modules) {
      const from = local(module.specifier);
      if (!from) continue;
      graph.set(
        from,
        // Type-only imports count: they tie modules together all the same.
        (module.dependencies ?? []).flatMap((d) =>
          [d.code?.specifier, d.type?.specifier].flatMap((s) => local(s) ?? [])
        ),
      );
    }
    return graph;
  } finally {
    await Deno.remove(entry);
  }
}

/**
 * Every import against the layers, and every import cycle.
 *
 * @param graph The module graph.
 * @returns One line per problem; empty when the code imports one way.
 */
export function checkLayers(graph: ModuleGraph): string[] {
  const problems: string[] = [];
  for (const [from, imports] of graph) {
    const layer = layerOf(from);
    if (!layer) continue;
    for (const to of imports) {
      const target = layerOf(to) ?? to;
      if (target !== layer && !LAYERS[layer].includes(target)) {
        problems.push(
          `${from} imports ${to}: ${layer} may not import ${target}`,
        );
      }
    }
  }
  for (const cycle of cycles(graph)) {
    problems.push(`import cycle: ${[...cycle, cycle[0]].join(" → ")}`);
  }
  return problems;
}

// Tarjan's strongly connected components: each with over one module is a cycle.
function cycles(graph: ModuleGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.reverse());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

if (import.meta.main) {
  const problems = checkLayers(await moduleGraph());
  for (const problem of problems) console.error(problem);
  if (problems.length) Deno.exit(1);
  console.log("lib/ and kernel_ext/ import one way");
}
