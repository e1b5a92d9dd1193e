/**
 * Big results from a runner: fetched from its bulk port (TCP, not the
 * event stream), whole, one after another (the runner reads the next into
 * the buffers it served before), of other sizes and shapes; from a runner
 * process, sent on as they come (read behind); and, from a runner without a
 * bulk port, whole through the stream.
 */
import assert from "node:assert/strict";
import { job, jobs } from "../../mod.ts";
import { Runner } from "../../runner.ts";
import { freePort, natsServer } from "../_nats.ts";
import { eventually, isAlive } from "../_procs.ts";

// The job runtime's `share()`, and the notebook names the jobs use.
declare const share: (name: string, value: unknown) => void;
declare const seed: number;
declare const length: number;

/** What `pattern(seed, length)` fills in, checked at every 4,099th byte. */
function checkPattern(bytes: Uint8Array, at: number): void {
  for (let i = 0; i < bytes.length; i += 4099) {
    assert.equal(bytes[i], (i * 31 + at) & 255, `byte ${i} of seed ${at}`);
  }
  assert.equal(bytes.at(-1), ((bytes.length - 1) * 31 + at) & 255);
}

async function bigResults(bulkPort: number | false): Promise<void> {
  const port = freePort();
  await using _server = await natsServer(["-p", String(port)]);
  const cluster = { servers: `nats://127.0.0.1:${port}`, name: "bulk" };
  await using _runner = await Runner.start({
    cluster,
    name: "bulk",
    log: () => {},
    bulkPort,
  });
  await jobs.configure({ cluster });
  try {
    await checkResults();
  } finally {
    await jobs.configure({ cluster: null });
  }
}

async function checkResults(): Promise<void> {
  const g = globalThis as Record<string, unknown>;
  // The same size three times (the later ones reuse the runner's
  // buffers), then another size, then a typed array inside a record.
  for (const [s, n] of [[1, 6], [2, 6], [3, 6], [4, 9]]) {
    g.seed = s;
    g.length = n * 2 ** 20;
    const bytes = await job(() => {
      const out = new Uint8Array(length);
      for (let i = 0; i < out.length; i++) out[i] = (i * 31 + seed) & 255;
      share("t", Date.now());
      return out;
    }, { on: "cluster", display: false });
    assert.ok(bytes instanceof Uint8Array);
    assert.equal(bytes.length, n * 2 ** 20);
    checkPattern(bytes, s);
  }
  const record = await job(() => ({
    name: "mixed",
    values: new Float64Array(800_000).fill(2.5),
    small: new Int16Array([1, -2, 3]),
  }), { on: "cluster", display: false });
  assert.equal(record.name, "mixed");
  assert.equal(record.values.length, 800_000);
  assert.equal(record.values[0] + record.values[799_999], 5);
  assert.deepEqual([...record.small], [1, -2, 3]);
  // Two big buffers in one result, read one after the other.
  const pair = await job(() => ({
    a: new Uint8Array(5 * 2 ** 20).fill(1),
    b: new Float32Array(2 ** 20).fill(0.5),
  }), { on: "cluster", display: false });
  assert.equal(pair.a.length + pair.a[0] + pair.a.at(-1)!, 5 * 2 ** 20 + 2);
  assert.equal(pair.b.length, 2 ** 20);
  assert.equal(pair.b[0] + pair.b.at(-1)!, 1);
  // Over the bulk socket but under the offer's size: in the stream, whole.
  const mid = await job(() => ({
    text: "x".repeat(600_000),
    bytes: new Uint8Array(600_000).fill(9),
  }), { on: "cluster", display: false });
  assert.equal(mid.text.length, 600_000);
  assert.equal(mid.bytes.length, 600_000);
  assert.equal(mid.bytes[0] + mid.bytes.at(-1)!, 18);
}

Deno.test({
  name:
    "big results from a runner arrive whole over its bulk port, one after another, of other sizes and shapes",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => bigResults(0),
});

Deno.test({
  name:
    "a runner process sends big results on as they come from the runtime: whole, several in one result, under the offer's size through the stream; a runtime stuck half-way is still killed",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // `cluster: "local"` runs runner.ts as a process, which reads behind.
    await jobs.configure({ cluster: "local" });
    try {
      await checkResults();
      // Its end is offered, but a timer it left spins as its result is
      // being sent: the job is still the runner's to kill.
      const stuck = job(() => {
        share("pid", Deno.pid);
        setTimeout(() => {
          for (;;) { /* the runtime's event loop never comes back */ }
        }, 5);
        return new Uint8Array(64 * 2 ** 20).fill(1);
      }, { on: "cluster", display: false });
      assert.ok(
        await eventually(() => "pid" in stuck.exports, 30_000),
        "the job ran",
      );
      const pid = stuck.exports.pid as number;
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(stuck.status, "running", "its result never all came");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise((r) => timer = setTimeout(r, 15_000, "late"));
      assert.notEqual(await Promise.race([stuck.kill(), late]), "late");
      clearTimeout(timer);
      assert.equal(stuck.status, "killed");
      assert.ok(
        await eventually(() => !isAlive(pid), 5000),
        "the stuck runtime is gone",
      );
    } finally {
      await jobs.configure({ cluster: null });
    }
  },
});

Deno.test({
  name:
    "from a runner without a bulk port, big results arrive whole through the stream",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => bigResults(false),
});
