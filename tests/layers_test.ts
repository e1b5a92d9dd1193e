import assert from "node:assert/strict";
import { checkLayers, type ModuleGraph, moduleGraph } from "../tools/layers.ts";

const graph = await moduleGraph();

function withImport(from: string, to: string): ModuleGraph {
  assert.ok(graph.has(from) && graph.has(to), `${from} and ${to} exist`);
  const changed = new Map(graph);
  changed.set(from, [...graph.get(from)!, to]);
  return changed;
}

Deno.test("lib/ and kernel_ext/ import one way: no cycle, no import against the layers", () => {
  assert.ok(graph.size > 60, "the graph holds every module");
  assert.deepEqual(checkLayers(graph), []);
});

Deno.test("the layer check fails on an import against the direction", () => {
  const problems = checkLayers(
    withImport("lib/codec/packet.ts", "lib/engine/job_state.ts"),
  );
  assert.ok(
    problems.some((p) =>
      p.startsWith("lib/codec/packet.ts imports lib/engine/job_state.ts") &&
      p.endsWith("lib/codec may not import lib/engine")
    ),
    problems.join("\n"),
  );
});

Deno.test("the layer check keeps the job runtime to protocol/ and codec/", () => {
  const problems = checkLayers(
    withImport("lib/runtime/main.ts", "lib/launch/process_group.ts"),
  );
  assert.ok(
    problems.some((p) => p.endsWith("lib/runtime may not import lib/launch")),
    problems.join("\n"),
  );
});

Deno.test("the layer check fails on an import cycle inside a folder", () => {
  // encoder.ts imports packet.ts; the reverse closes a cycle.
  const problems = checkLayers(
    withImport("lib/codec/packet.ts", "lib/codec/encoder.ts"),
  );
  assert.ok(
    problems.some((p) =>
      p.startsWith("import cycle:") && p.includes("lib/codec/packet.ts") &&
      p.includes("lib/codec/encoder.ts")
    ),
    problems.join("\n"),
  );
});

Deno.test("lib/ touches no Jupyter API: only kernel_ext/ does", async () => {
  for (const [path] of graph) {
    if (!path.startsWith("lib/")) continue;
    const text = await Deno.readTextFile(
      new URL(`../${path}`, import.meta.url),
    );
    assert.doesNotMatch(text, /Deno\.jupyter|Symbol\.for\("Jupyter/, path);
  }
});
