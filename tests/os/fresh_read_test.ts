// Reading behind (a runner passing a big result on): the buffer comes back
// at once and fills as the bytes come through a real Unix socket, in
// order with the next read behind; a stream that stops half-way fails both
// and says so to whoever waits. Reading fresh (a kernel keeping a big
// result): the next result of the same size comes into a buffer made ready
// meanwhile, whole, and only once it is ready.
import assert from "node:assert/strict";
import {
  fillingOf,
  prepareAhead,
  preparedStats,
  readBehind,
  readFresh,
  whenFilled,
} from "../../lib/os/fresh_read.ts";

const MIB = 2 ** 20;

/** A connected Unix socket pair in a temporary directory. */
async function socketPair(): Promise<
  { reader: Deno.UnixConn; writer: Deno.UnixConn } & AsyncDisposable
> {
  const dir = await Deno.makeTempDir({ prefix: "bgjobs_fresh_read_" });
  const listener = Deno.listen({ transport: "unix", path: `${dir}/s` });
  const [writer, reader] = await Promise.all([
    Deno.connect({ transport: "unix", path: `${dir}/s` }),
    listener.accept(),
  ]);
  listener.close();
  return {
    reader,
    writer,
    async [Symbol.asyncDispose](): Promise<void> {
      for (const conn of [reader, writer]) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function send(conn: Deno.UnixConn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    at += await conn.write(bytes.subarray(at, at + MIB));
    await new Promise((r) => setTimeout(r, 2)); // the reader sees it come
  }
}

Deno.test("a buffer read behind comes at once, fills as its bytes come, and the next one follows it in order", async () => {
  await using pair = await socketPair();
  const first = new Uint8Array(6 * MIB + 5).map((_, i) => i * 7);
  const second = new Uint8Array(3 * MIB).map((_, i) => i * 13 + 1);
  const a = readBehind(pair.reader, first.length, Promise.resolve());
  const b = readBehind(pair.reader, second.length, fillingOf(a)!.done);
  assert.equal(fillingOf(a)!.filled, 0, "returned before any byte came");
  assert.equal(fillingOf(new Uint8Array(4)), undefined);

  const seen: number[] = [];
  const watching = (async () => {
    const filling = fillingOf(a)!;
    while (filling.filled < first.length) {
      await filling.more();
      seen.push(filling.filled);
    }
  })();
  const sending = (async () => {
    await send(pair.writer, first);
    await send(pair.writer, second);
  })();
  await whenFilled([a, "not a buffer", b]);
  await Promise.all([watching, sending]);
  assert.deepEqual(a, first);
  assert.deepEqual(b, second);
  assert.ok(seen.length >= 3, `seen filling in steps: ${seen}`);
  assert.ok(seen.every((n, i) => i === 0 || n > seen[i - 1]));
});

Deno.test("a stream that stops half-way fails the buffer being read and the ones after it", async () => {
  await using pair = await socketPair();
  const a = readBehind(pair.reader, 4 * MIB, Promise.resolve());
  const b = readBehind(pair.reader, MIB, fillingOf(a)!.done);
  await send(pair.writer, new Uint8Array(2 * MIB + 17).fill(3));
  pair.writer.close();
  await assert.rejects(fillingOf(a)!.done, /closed in the middle/);
  await assert.rejects(fillingOf(b)!.done);
  await assert.rejects(whenFilled([b]));
  assert.equal(fillingOf(a)!.filled, 2 * MIB, "what came, in whole steps");
  assert.equal(a[2 * MIB - 1], 3);
});

Deno.test("after a big result, the next of its size comes into a buffer made ready meanwhile, whole; other sizes are read fresh", async () => {
  await using pair = await socketPair();
  prepareAhead(false); // none left from elsewhere
  prepareAhead(true);
  try {
    await nextOfASize(pair);
  } finally {
    prepareAhead(false);
  }
});

async function nextOfASize(
  pair: { reader: Deno.UnixConn; writer: Deno.UnixConn },
): Promise<void> {
  const size = 9 * MIB + 3;
  const results: Uint8Array[] = [];
  const base = preparedStats();
  for (let round = 0; round < 3; round++) {
    const sent = new Uint8Array(size).map((_, i) => (i * 31 + round) & 255);
    const [got] = await Promise.all([
      readFresh(pair.reader, size),
      send(pair.writer, sent),
    ]);
    assert.deepEqual(got, sent, `round ${round} arrived whole`);
    assert.ok(!results.includes(got), "a buffer of its own each time");
    results.push(got);
    // The buffer for the next is being made ready (faulted on blocking
    // threads): wait until it is, as the time a cell runs again gives it.
    await new Promise((r) => setTimeout(r, 1500));
  }
  const after = preparedStats();
  assert.equal(after.made - base.made, 3, "one made ready after each");
  assert.equal(after.used - base.used, 2, "the second and third took one");
  // Earlier results are the notebook's, untouched by what came after.
  assert.equal(results[0][size - 1], ((size - 1) * 31) & 255);
  // Another size is read into a fresh buffer, and leaves the ready one be.
  const other = new Uint8Array(5 * MIB).fill(9);
  const [got] = await Promise.all([
    readFresh(pair.reader, other.length),
    send(pair.writer, other),
  ]);
  assert.deepEqual(got, other);
  assert.equal(preparedStats().used - base.used, 2);
}

Deno.test("a result that comes while its buffer is still being made ready takes it as it is, whole", async () => {
  await using pair = await socketPair();
  prepareAhead(false); // none left from elsewhere
  prepareAhead(true);
  try {
    const size = 26 * MIB + 13;
    const base = preparedStats();
    const sent = [1, 2].map((v) => new Uint8Array(size).fill(v));
    const sending = (async () => {
      for (const bytes of sent) await send(pair.writer, bytes);
    })();
    const first = await readFresh(pair.reader, size);
    // Asked for at once: the buffer made ready after the first is still
    // being faulted on blocking threads, ahead of this copy.
    const second = await readFresh(pair.reader, size);
    await sending;
    assert.ok(first.every((b) => b === 1), "the first whole");
    assert.ok(second.every((b) => b === 2), "the second whole: no zeroes");
    assert.equal(preparedStats().made - base.made, 2);
    assert.equal(preparedStats().used - base.used, 1);
  } finally {
    prepareAhead(false);
  }
});

Deno.test("outside a notebook no buffer is made ready after a result", async () => {
  await using pair = await socketPair();
  prepareAhead(false);
  const base = preparedStats();
  for (let round = 0; round < 2; round++) {
    const sent = new Uint8Array(6 * MIB).fill(round + 5);
    const [got] = await Promise.all([
      readFresh(pair.reader, sent.length),
      send(pair.writer, sent),
    ]);
    assert.deepEqual(got, sent);
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.deepEqual(preparedStats(), base);
});

Deno.test("outside a notebook a buffer is faulted only while a job runs, and the next result takes it", async () => {
  // In a process of its own: its memory tells what was faulted.
  const script = `
    import { fillFresh, prepareWhile, preparedStats } from ${
    JSON.stringify(new URL("../../lib/os/fresh_read.ts", import.meta.url).href)
  };
    const size = 128 * 2 ** 20;
    const rss = () => Number(Deno.readTextFileSync("/proc/self/status").match(/VmRSS:\\s+(\\d+)/)[1]) * 1024;
    const wait = (ms) => new Promise((r) => setTimeout(r, ms));
    const fill = (v) => async (bytes, at, end) => { bytes.fill(v, at, end); };
    const first = await fillFresh(size, fill(1));
    const base = rss();
    prepareWhile(() => false); // no job runs: nothing is faulted
    await wait(700);
    const idle = rss();
    let running = true;
    prepareWhile(() => running); // a job runs: faulted till it ends
    await wait(5);
    running = false; // at most the pieces under way are finished
    await wait(700);
    const stopped = rss();
    running = true;
    prepareWhile(() => running); // the next job: goes on from there
    for (let i = 0; i < 100 && rss() - idle < size * 0.9; i++) await wait(50);
    const resumed = rss();
    running = false;
    const second = await fillFresh(size, fill(2));
    console.log(JSON.stringify({ base, idle, stopped, resumed, size, stats: preparedStats(),
      whole: first.every((b) => b === 1) && second.every((b) => b === 2),
      own: first.buffer !== second.buffer }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", script],
    stdout: "piped",
  }).output();
  assert.ok(out.success, "the probe ran");
  const { base, idle, stopped, resumed, size, stats, whole, own } = JSON
    .parse(new TextDecoder().decode(out.stdout));
  assert.ok(whole && own, "each result whole, in a buffer of its own");
  assert.deepEqual(stats, { made: 1, used: 1 }, "one made ready, and taken");
  assert.ok(idle - base < size / 4, `no job: ${idle - base} bytes faulted`);
  assert.ok(
    stopped - idle < size / 2,
    `stopped with its job: ${stopped - idle} bytes faulted`,
  );
  assert.ok(
    resumed - idle > size * 0.9,
    `went on with the next: ${resumed - idle} bytes faulted`,
  );
});
