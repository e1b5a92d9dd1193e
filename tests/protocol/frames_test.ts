// Frames and messages alone, over in-memory byte streams: fast unit tests.
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import {
  encodeFrame,
  encodeFrameParts,
  frameBytes,
  onBulk,
  readFrames,
} from "../../lib/protocol/frames.ts";
import {
  TABLE_CHUNK,
  TableChanged,
  type TableChunk,
  TableReceiver,
  takeApart,
} from "../../lib/codec/table_chunks.ts";
import {
  type ByteReader,
  bytesReader,
  concat,
  readInto,
  withPrefix,
} from "../../lib/protocol/byte_streams.ts";
import {
  endOf,
  isEnd,
  isReady,
  type KernelMessage,
  type RuntimeMessage,
} from "../../lib/protocol/messages.ts";

const streamOf = (bytes: Uint8Array, step = 7): ByteReader =>
  bytesReader(bytes, step);

async function readAll<M extends KernelMessage | RuntimeMessage>(
  bytes: Uint8Array,
): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const msg of readFrames<M>(streamOf(bytes))) out.push(msg);
  return out;
}

Deno.test("frames carry messages whole and in order, however the stream splits them", async () => {
  const messages: RuntimeMessage[] = [
    { t: "ready" },
    { t: "progress", done: 3, total: 10 },
    { t: "analyze", id: 1, source: "() => x" },
    { t: "result", value: { v: new Map([[1, new Date(0)]]) } },
  ];
  const bytes = concat(messages.map((m) => encodeFrame(m)));
  assert.deepEqual(await readAll<RuntimeMessage>(bytes), messages);
});

Deno.test("a message's raw buffers travel as attachments, uncopied by the serializer", async () => {
  const raw = [new Uint8Array([1, 2, 3]), new Uint8Array(100_000).fill(9)];
  const parts = encodeFrameParts({ t: "result", value: { v: 1, raw } });
  assert.equal(parts.length, 4, "head, body, then each attachment");
  assert.equal(parts[2], raw[0], "the attachment itself, not a copy");
  const [msg] = await readAll<RuntimeMessage>(concat([...frameBytes(parts)]));
  assert.deepEqual(msg, { t: "result", value: { v: 1, raw } });
});

Deno.test("a frame on the bulk socket has its head on the stream, its body and attachments on the socket", async () => {
  const withRaw = {
    t: "result",
    value: { v: "big".repeat(1000), raw: [new Uint8Array(70_000).fill(3)] },
  } as const;
  const withoutRaw = { t: "result", value: { v: "x".repeat(5000) } } as const;
  const heads: Uint8Array[] = [];
  const socket: Uint8Array[] = [];
  for (const message of [withRaw, withoutRaw]) {
    const [head, ...rest] = onBulk(encodeFrameParts(message));
    heads.push(head);
    socket.push(...frameBytes(rest));
  }
  heads.push(encodeFrame({ t: "ready" }));
  const stream = streamOf(concat(heads));
  const bulk = streamOf(concat(socket), 4096);
  let asked = 0;
  const out: unknown[] = [];
  for await (
    const msg of readFrames<RuntimeMessage>(stream, () => {
      asked++;
      return Promise.resolve(bulk);
    })
  ) out.push(msg);
  assert.deepEqual(out, [withRaw, withoutRaw, { t: "ready" }]);
  assert.equal(asked, 2, "each bulk frame asks for the socket");
  assert.ok(
    heads[0].byteLength < 64 && heads[1].byteLength < 64,
    "only heads on the stream",
  );
});

Deno.test("a big table's chunks are serialized as they are written and its rows rebuilt as they are read", async () => {
  const rows = Array.from(
    { length: 20_000 },
    (_, i) => ({ id: i, s: `r${i}` }),
  );
  const chunks = takeApart(rows, false)!;
  const message = { t: "result", value: { v: 1, raw: [chunks] } };
  const parts = encodeFrameParts(message);
  const pieces = [...frameBytes(parts)];
  assert.ok(pieces.length > parts.length, "each chunk its own piece");
  const [inline] = await readAll<RuntimeMessage>(concat(pieces));
  assert.deepEqual(inline, { t: "result", value: { v: 1, raw: [rows] } });
  // On the bulk socket, followed by another frame on the stream.
  const [head, ...rest] = onBulk(parts);
  const stream = streamOf(concat([head, encodeFrame({ t: "ready" })]));
  const bulk = streamOf(concat([...frameBytes(rest)]), 100_000);
  const out: unknown[] = [];
  for await (
    const msg of readFrames<RuntimeMessage>(stream, () => Promise.resolve(bulk))
  ) out.push(msg);
  assert.deepEqual(out, [
    { t: "result", value: { v: 1, raw: [rows] } },
    { t: "ready" },
  ]);
});

Deno.test("a table's rows are rebuilt into one array made its length at once, whatever count its first chunk gives", () => {
  const rows = Array.from(
    { length: 3 * TABLE_CHUNK + 5 },
    (_, i) => ({ id: i, s: `r${i}` }),
  );
  const chunks: TableChunk[] = [...takeApart(rows, false)!.travel()];
  assert.equal(chunks[0].total, rows.length, "the first chunk counts them");
  for (const total of [rows.length, rows.length * 2, 7, 0, -1, 2.5, 2 ** 40]) {
    const receiver = new TableReceiver();
    chunks.forEach((chunk, i) =>
      receiver.add(i === 0 ? { ...chunk, total } : chunk)
    );
    const got = receiver.rows;
    assert.equal(got.length, rows.length, `told ${total}`);
    for (let i = 0; i < got.length; i++) assert.ok(i in got, `a hole at ${i}`);
    assert.deepEqual(got, rows, `told ${total}`);
  }
});

Deno.test("a table's whole numbers are rebuilt as small integers, not a box a row, and other numbers as they were", async () => {
  // Exact: -0, fractions, NaN, the infinities, past 31 and 32 bits.
  const odd = [
    -0,
    0,
    1.5,
    NaN,
    Infinity,
    -Infinity,
    2 ** 30,
    2 ** 31,
    -(2 ** 31),
    2 ** 53,
    -7,
  ];
  const rows = Array.from(
    { length: 3 * TABLE_CHUNK },
    (_, i) => ({ n: i < odd.length ? odd[i] : i, m: -i }),
  );
  const receiver = new TableReceiver();
  for (const chunk of takeApart(rows, false)!.travel()) receiver.add(chunk);
  assert.deepEqual(receiver.rows, rows);
  // Memory, in a process of its own that can collect its garbage: 100,000
  // rows of two whole numbers rebuilt from their Float64Array columns take
  // what as many made in place take (rows of other keys: objects of the same
  // keys share their layout, boxes too), not a box a number (~1.7 times).
  const script = `
    import { TableReceiver, takeApart } from ${
    JSON.stringify(
      new URL("../../lib/codec/table_chunks.ts", import.meta.url).href,
    )
  };
    const N = 100_000;
    const chunks = [...takeApart(Array.from({ length: N }, (_, i) => ({ a: i, b: i * 2 })), false).travel()];
    const used = (build) => { gc(); const before = Deno.memoryUsage().heapUsed; const kept = build(); gc(); const after = Deno.memoryUsage().heapUsed; return [after - before, kept]; };
    const [rebuilt, rows] = used(() => { const r = new TableReceiver(); for (const c of chunks) r.add(c); return r.rows; });
    const [made] = used(() => Array.from({ length: N }, (_, i) => ({ x: i, y: i * 2 })));
    console.log(JSON.stringify({ rebuilt, made, last: rows[N - 1] }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--v8-flags=--expose-gc", script],
    stdout: "piped",
  }).output();
  assert.ok(out.success, "the probe ran");
  const { rebuilt, made, last } = JSON.parse(
    new TextDecoder().decode(out.stdout),
  );
  assert.deepEqual(last, { a: 99_999, b: 199_998 });
  assert.ok(made > 2_000_000, `rows were kept: ${made} bytes`);
  assert.ok(rebuilt < made * 1.15, `rebuilt ${rebuilt} bytes, made ${made}`);
});

Deno.test("a table taken lazily into reused buffers comes back exact, whatever its later rows hold", async () => {
  const n = 40_000;
  const rows: Record<string, unknown>[] = Array.from({ length: n }, (_, i) => ({
    id: i,
    // Text that UTF-8 cannot carry (a lone surrogate), or that starts with
    // a byte-order mark, or is not Latin-1, in some chunks only.
    s: i === 20_000
      ? "lone \ud800"
      : i % TABLE_CHUNK === 0
      ? "\ufeffbom"
      : `r${i}é€😀`,
    v: i < 30_000 ? i * 0.5 : i % 2 ? null : true,
  }));
  // A later chunk where the numbers turn to strings.
  rows[35_000].v = "text";
  const lazy = takeApart(rows, true)!;
  const message = { t: "result", value: { v: 1, raw: [lazy] } };
  // Written as a writer does: each piece out before the next is taken.
  const pieces: Uint8Array[] = [];
  for (const bytes of frameBytes(encodeFrameParts(message), true)) {
    pieces.push(bytes.slice());
  }
  const [out] = await readAll<RuntimeMessage>(concat(pieces));
  const [got] = (out as { value: { raw: unknown[][] } }).value.raw;
  assert.equal(got.length, n);
  const wrong = got.findIndex((row, i) => !isDeepStrictEqual(row, rows[i]));
  assert.equal(wrong, -1, `row ${wrong}: ${JSON.stringify(got[wrong])}`);
});

Deno.test("a table chunk that cannot be read makes the frame unreadable, and the stream stays in step", async () => {
  const rows = Array.from({ length: 9000 }, (_, i) => ({ id: i }));
  const chunks = takeApart(rows, false)!;
  // A chunk whose columns are shorter than its rows.
  const travel = chunks.travel.bind(chunks);
  chunks.travel = function* (): ReturnType<typeof travel> {
    let i = 0;
    for (const chunk of travel()) {
      yield i++ === 1 ? { ...chunk, n: 5e6 } : chunk;
    }
  };
  const bytes = concat([
    encodeFrame({ t: "result", value: { v: 1, raw: [chunks] } }),
    encodeFrame({ t: "ready" }),
  ]);
  const [bad, next] = await readAll<RuntimeMessage>(bytes);
  assert.equal((bad as { t: string }).t, "unreadable");
  assert.match((bad as { message: string }).message, /shorter than its rows/);
  assert.deepEqual(next, { t: "ready" });
});

Deno.test("a table that changes while it is taken apart drops its frame, which comes again whole", async () => {
  const rows = Array.from(
    { length: 30_000 },
    (_, i) => ({ id: i, s: `r${i}` }),
  );
  const lazy = takeApart(rows, true)!;
  const message = { t: "result", value: { v: 1, raw: [lazy] } };
  rows[25_000] = { id: 25_000, s: "r", extra: true } as never;
  const sent: Uint8Array[] = [];
  assert.throws(() => {
    for (const bytes of frameBytes(encodeFrameParts(message))) sent.push(bytes);
  }, TableChanged);
  const again = { t: "result", value: { v: rows.length } };
  const out = await readAll<RuntimeMessage>(
    concat([...sent, encodeFrame(again), encodeFrame({ t: "ready" })]),
  );
  assert.deepEqual(out, [again, { t: "ready" }]);
});

Deno.test("a frame that cannot be decoded becomes an unreadable message, and the stream stays in step", async () => {
  const bad = new Uint8Array([0, 0, 0, 3, 0xff, 0xff, 0xff]);
  const bytes = concat([bad, encodeFrame({ t: "ready" })]);
  const [unreadable, next] = await readAll<RuntimeMessage>(bytes);
  assert.equal((unreadable as { t: string }).t, "unreadable");
  assert.deepEqual(next, { t: "ready" });
});

Deno.test("a stream that ends inside a frame is an error, not a message", async () => {
  const frame = encodeFrame({ t: "progress", done: 1 });
  await assert.rejects(
    () => readAll<RuntimeMessage>(frame.subarray(0, frame.byteLength - 1)),
    /closed in the middle of a message/,
  );
});

Deno.test("byte streams: readInto() fills a range, withPrefix() reads its prefix first", async () => {
  const bytes = new Uint8Array(10);
  await readInto(streamOf(new Uint8Array([1, 2, 3, 4]), 1), bytes, 2, 6);
  assert.deepEqual([...bytes], [0, 0, 1, 2, 3, 4, 0, 0, 0, 0]);
  await assert.rejects(
    () => readInto(streamOf(new Uint8Array([1])), new Uint8Array(2)),
    /closed in the middle/,
  );
  const joined = withPrefix(
    streamOf(new Uint8Array([3, 4])),
    new Uint8Array([1, 2]),
  );
  const out = new Uint8Array(4);
  await readInto(joined, out);
  assert.deepEqual([...out], [1, 2, 3, 4]);
});

Deno.test("messages: which end a run, and how", () => {
  assert.equal(isEnd({ t: "progress", done: 1 }), false);
  assert.equal(isEnd({ t: "result", value: null }), true);
  assert.deepEqual(endOf({ t: "result", value: null }), {
    kind: "result",
    value: null,
  });
  assert.deepEqual(
    endOf({ t: "unreadable", name: "DataCloneError", message: "bad" }),
    {
      kind: "error",
      error: {
        name: "DataCloneError",
        message: "What the job sent could not be read: bad",
      },
    },
  );
  assert.equal(isReady({ done: false, value: { t: "ready" } }), true);
  assert.equal(isReady({ done: true, value: undefined }), false);
});
