/**
 * Scenario 4, result transfer: a 50 MB `Float64Array` and 200,000 small
 * objects (two shapes: `{ id, name, value, ok }` and records as a crawl
 * makes them, `{ url, title, n }`) made in the background, timed from the
 * moment the work has its result (stamped there) to the moment the notebook
 * side holds it, in a script and in a real kernel. Every contender lets go
 * of a sample's result before the next (bgjobs: `jobs.flush()`), so each
 * transfer meets the same heap.
 *
 * @module
 */
import { bgjobs } from "./_contenders/bgjobs.ts";
import { startThread, type ThreadKind } from "./_contenders/threads.ts";
import type { Contender, RunContext, Scenario, Where } from "./_scenario.ts";
import {
  type Batch,
  epochNow,
  median,
  quantile,
  sleep,
  type Tally,
} from "./_stats.ts";

const STAMP = "performance.timeOrigin + performance.now()";

/** JavaScript that builds the payload into `value`, sized by `count`. */
function makeCode(variant: string, count: number): string {
  if (variant === "transfer.f64") {
    return `const value = new Float64Array(${count}); for (let i = 0; i < ${count}; i++) value[i] = i * 0.5;`;
  }
  const record = variant === "transfer.records"
    ? `{ url: "https://example.com/page/" + i, title: "Title " + i, n: i }`
    : `{ id: i, name: "item" + i, value: i * 1.5, ok: i % 2 === 0 }`;
  return `const value = Array.from({ length: ${count} }, (_, i) => (${record}));`;
}

/** The payload's element count and bytes (the typed array's byte length). */
function sizes(ctx: RunContext): { count: number; bytes: number } {
  return { count: ctx.params.count, bytes: ctx.params.bytes ?? 0 };
}

function verify(variant: string, value: unknown, count: number): void {
  const last = count - 1;
  const ok = variant === "transfer.f64"
    ? value instanceof Float64Array && value.length === count &&
      value[last] === last * 0.5
    : Array.isArray(value) && value.length === count &&
      (variant === "transfer.records"
        ? (value[last] as { url: string }).url ===
          `https://example.com/page/${last}`
        : (value[last] as { name: string }).name === `item${last}`);
  if (!ok) throw new Error("the result arrived wrong");
}

async function bgjobsTransfer(ctx: RunContext): Promise<Batch> {
  const { job, jobs } = await bgjobs();
  const { count } = sizes(ctx);
  const batch: Batch = { samples: [], extra: { fixed_ms: [] } };
  await job(() => 0); // start the warm pool
  const body = makeCode(ctx.variant, count);
  for (let i = 0; i < ctx.n; i++) {
    await sleep(500);
    const j = job(
      `(() => { ${body} share("end", ${STAMP}); return value; })()`,
    );
    const value = await j;
    batch.samples.push(epochNow() - (j.exports.end as number));
    verify(ctx.variant, value, count);
    // Let go, as the contenders let theirs go: `jobs` would otherwise hold
    // every earlier sample's result, and the kernel's heap grow by it.
    jobs.flush();
    // The same with an empty result: what every result pays.
    await sleep(500);
    const e = job(`(() => { share("end", ${STAMP}); return 0; })()`);
    await e;
    batch.extra!.fixed_ms.push(epochNow() - (e.exports.end as number));
  }
  await jobs.shutdown();
  return batch;
}

async function threadTransfer(
  ctx: RunContext,
  kind: ThreadKind,
  move: boolean,
): Promise<Batch> {
  const { count } = sizes(ctx);
  const batch: Batch = { samples: [] };
  const transfer = move ? "[value.buffer]" : "[]";
  for (let i = 0; i < ctx.n; i++) {
    const thread = startThread(
      kind,
      `${makeCode(ctx.variant, count)} send([${STAMP}, value], ${transfer});`,
      ctx.where,
    );
    const [end, value] = await new Promise<[number, unknown]>((resolve) =>
      thread.listen((m) => resolve(m as [number, unknown]))
    );
    batch.samples.push(epochNow() - end);
    verify(ctx.variant, value, count);
    await thread.terminate();
  }
  return batch;
}

async function jsonTransfer(ctx: RunContext): Promise<Batch> {
  const { count } = sizes(ctx);
  const f64 = ctx.variant === "transfer.f64";
  const script = `${ctx.work}/transfer-json.ts`;
  const encode = f64
    ? "JSON.stringify(Array.from(value))"
    : "JSON.stringify(value)";
  await Deno.writeTextFile(
    script,
    `${makeCode(ctx.variant, count)}\nconst end = ${STAMP};\n` +
      `const text = ${encode};\n` +
      `const bytes = new TextEncoder().encode(end + "\\n" + text);\n` +
      `let off = 0; while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));\n`,
  );
  const batch: Batch = { samples: [] };
  for (let i = 0; i < ctx.n; i++) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script],
      stdout: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const cut = text.indexOf("\n");
    const parsed = JSON.parse(text.slice(cut + 1));
    const value = f64 ? Float64Array.from(parsed as number[]) : parsed;
    // The child's exit is not waited for: the stamp is when it had the result.
    batch.samples.push(epochNow() - Number(text.slice(0, cut)));
    verify(ctx.variant, value, count);
  }
  return batch;
}

/**
 * A raw subprocess, as a user would write one: the child writes the
 * array's bytes to its stdout, the parent reads them into a buffer of the
 * right size and makes the `Float64Array`.
 */
async function pipeTransfer(ctx: RunContext): Promise<Batch> {
  const { count, bytes } = sizes(ctx);
  const script = `${ctx.work}/transfer-pipe.ts`;
  await Deno.writeTextFile(
    script,
    `${makeCode(ctx.variant, count)}\n` +
      `const bytes = new Uint8Array(value.buffer);\n` +
      `const head = new TextEncoder().encode(String(${STAMP}).padEnd(32));\n` +
      `Deno.stdout.writeSync(head);\n` +
      `let off = 0; while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));\n`,
  );
  const batch: Batch = { samples: [] };
  for (let i = 0; i < ctx.n; i++) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script],
      stdout: "piped",
    }).spawn();
    const head = new Uint8Array(32);
    const buffer = new Uint8Array(bytes);
    let off = -32;
    for await (const chunk of child.stdout) {
      let at = 0;
      if (off < 0) {
        at = Math.min(-off, chunk.length);
        head.set(chunk.subarray(0, at), 32 + off);
        off += at;
      }
      buffer.set(chunk.subarray(at), off);
      off += chunk.length - at;
    }
    const value = new Float64Array(buffer.buffer);
    batch.samples.push(epochNow() - Number(new TextDecoder().decode(head)));
    verify(ctx.variant, value, count);
    await child.status;
  }
  return batch;
}

/**
 * The ceiling of bgjobs' channel: the same bytes, raw, from a child's
 * synchronous writes into a FIFO to the parent's reads (as the runtime and
 * the kernel do), without any encoding.
 */
async function fifoTransfer(ctx: RunContext): Promise<Batch> {
  const { bytes } = sizes(ctx);
  const fifo = `${ctx.work}/transfer-fifo-${crypto.randomUUID()}`;
  await new Deno.Command("mkfifo", { args: [fifo] }).output();
  const script = `${ctx.work}/transfer-fifo.ts`;
  await Deno.writeTextFile(
    script,
    `const bytes = new Uint8Array(${bytes}).fill(7);\n` +
      `const out = Deno.openSync(Deno.args[0], { write: true });\n` +
      `console.log(${STAMP});\n` +
      `let off = 0; while (off < bytes.length) off += out.writeSync(bytes.subarray(off));\n`,
  );
  const batch = await rawReads(
    ctx,
    script,
    fifo,
    () => Deno.open(fifo, { read: true }),
  );
  await Deno.remove(fifo).catch(() => {});
  return batch;
}

/**
 * Runs `script` (it prints when it starts writing) `ctx.n` times, reading
 * all its bytes from what `open()` gives; each sample is from that stamp to
 * the last byte read.
 */
async function rawReads(
  ctx: RunContext,
  script: string,
  arg: string,
  open: () => Promise<
    { read(p: Uint8Array): Promise<number | null>; close(): void }
  >,
): Promise<Batch> {
  const { bytes } = sizes(ctx);
  const batch: Batch = { samples: [] };
  for (let i = 0; i < ctx.n; i++) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script, arg],
      stdout: "piped",
    }).spawn();
    const input = await open();
    const buffer = new Uint8Array(bytes);
    let off = 0;
    while (off < bytes) {
      const n = await input.read(buffer.subarray(off));
      if (n === null) break;
      off += n;
    }
    const end = epochNow();
    input.close();
    const out = await child.output();
    batch.samples.push(end - Number(new TextDecoder().decode(out.stdout)));
    if (off !== bytes) throw new Error(`read ${off} of ${bytes} bytes`);
  }
  return batch;
}

/**
 * The same raw bytes through a Unix socket (reads of ~200 KiB instead of a
 * FIFO's 64 KiB): what another channel would give.
 */
async function socketTransfer(ctx: RunContext): Promise<Batch> {
  const { bytes } = sizes(ctx);
  const path = `${ctx.work}/transfer-${crypto.randomUUID()}.sock`;
  const script = `${ctx.work}/transfer-socket.ts`;
  await Deno.writeTextFile(
    script,
    `const bytes = new Uint8Array(${bytes}).fill(7);\n` +
      `const conn = await Deno.connect({ transport: "unix", path: Deno.args[0] });\n` +
      `console.log(${STAMP});\n` +
      `let off = 0; while (off < bytes.length) off += await conn.write(bytes.subarray(off));\n` +
      `conn.close();\n`,
  );
  const listener = Deno.listen({ transport: "unix", path });
  const batch = await rawReads(ctx, script, path, () => listener.accept());
  listener.close();
  await Deno.remove(path).catch(() => {});
  return batch;
}

const F64 = ["transfer.f64"];
const SCRIPT: Where[] = ["script"];

const contenders: Contender[] = [
  { name: "bgjobs", run: bgjobsTransfer },
  {
    name: "Deno Worker postMessage",
    run: (ctx) => threadTransfer(ctx, "deno", false),
  },
  {
    name: "Deno Worker postMessage (transfer list)",
    run: (ctx) => threadTransfer(ctx, "deno", true),
    variants: F64,
  },
  {
    name: "node:worker_threads postMessage",
    run: (ctx) => threadTransfer(ctx, "node", false),
    where: SCRIPT,
  },
  { name: "JSON through a Deno.Command pipe", run: jsonTransfer },
  {
    name: "raw bytes through a Deno.Command pipe",
    run: pipeTransfer,
    variants: F64,
  },
  {
    name: "raw bytes through a FIFO (bgjobs' channel, no codec)",
    run: fifoTransfer,
    variants: F64,
    where: SCRIPT,
  },
  {
    name: "raw bytes through a Unix socket (no codec)",
    run: socketTransfer,
    variants: F64,
    where: SCRIPT,
  },
];

function rate(tally: Tally, quick: boolean): Record<string, unknown> {
  const { bytes } = params(quick).f64;
  const ms = median(tally.samples);
  const slow = quantile(tally.samples, 0.9);
  return {
    mb: bytes / 2 ** 20,
    gb_per_s: bytes / 1e9 / (ms / 1000),
    gb_per_s_p90: bytes / 1e9 / (slow / 1000),
  };
}

function params(quick: boolean): {
  f64: Record<string, number>;
  objects: Record<string, number>;
} {
  const mb = quick ? 10 : 50;
  const count = mb * 2 ** 20 / 8;
  return {
    f64: { count, bytes: count * 8 },
    objects: { count: quick ? 20_000 : 200_000 },
  };
}

const BOTH: Where[] = ["script", "kernel"];

const scenario: Scenario = {
  id: "transfer",
  title:
    "Result transfer: from the work having its result to the notebook holding it",
  url: import.meta.url,
  reference: "bgjobs",
  variants: [
    {
      id: "transfer.f64",
      metric: "ms to bring back a 50 MiB Float64Array (quick: 10 MiB)",
      params: (quick) => params(quick).f64,
      derive: rate,
      where: BOTH,
    },
    {
      id: "transfer.objects",
      metric:
        "ms to bring back 200,000 objects { id, name, value, ok } (quick: 20,000)",
      params: (quick) => params(quick).objects,
      derive: (_tally, quick) => ({ objects: params(quick).objects.count }),
    },
    {
      id: "transfer.records",
      metric:
        'ms to bring back 200,000 records { url: "https://example.com/page/…", title, n } (quick: 20,000)',
      params: (quick) => params(quick).objects,
      derive: (_tally, quick) => ({ objects: params(quick).objects.count }),
      where: BOTH,
    },
  ],
  contenders,
  plan: (quick) =>
    quick ? { rounds: 1, perBatch: 2 } : { rounds: 3, perBatch: 3 },
};

export default scenario;
