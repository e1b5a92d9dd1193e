// Pulling a big result from its runtime's memory (`lib/os/pull.ts`), with
// real processes: the kernel finds a marked buffer in another process and
// reads it whole, its first bytes put right, writing nothing there; what is
// not marked there is not found; a notebook that cannot pull (no `ffi`) gets
// big results whole through the socket; and no code of the job ever sees the
// mark (its views of a pulled buffer are detached once it has returned).
import assert from "node:assert/strict";
import { job } from "../../mod.ts";
import { canPull, locate, pullFrom, pullStats } from "../../lib/os/pull.ts";
import { prepareAhead, preparedStats } from "../../lib/os/fresh_read.ts";
import { MARK, type PullMark } from "../../lib/protocol/byte_streams.ts";
import { jobTest } from "../_util.ts";

const MIB = 2 ** 20;
const ROOT = new URL("../../", import.meta.url).pathname;

/** Byte `i` of the test pattern `seed`. */
const PATTERN = "(i, seed) => (i * 31 + seed + (i >> 12)) & 255";
const pattern = (0, eval)(PATTERN) as (i: number, seed: number) => number;

function firstWrong(bytes: Uint8Array, seed: number): number {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== pattern(i, seed)) return i;
  }
  return -1;
}

/**
 * A process holding `size` bytes of pattern `seed` at `offset` in a buffer
 * of its own, the first {@linkcode MARK} marked; it prints the mark, then on
 * each line of input whether its bytes are the pattern again.
 */
interface Holder extends AsyncDisposable {
  pid: number;
  mark: Uint8Array;
  whole(): Promise<boolean>;
}

async function holder(
  size: number,
  offset: number,
  seed: number,
): Promise<Holder> {
  const source = `
    const pattern = ${PATTERN};
    const buffer = new ArrayBuffer(${size + offset});
    const bytes = new Uint8Array(buffer, ${offset}, ${size});
    for (let i = 0; i < bytes.length; i++) bytes[i] = pattern(i, ${seed});
    const mark = crypto.getRandomValues(new Uint8Array(${MARK}));
    bytes.set(mark);
    console.log(JSON.stringify([...mark]));
    const line = new Uint8Array(1);
    while (Deno.stdin.readSync(line)) {
      let ok = true;
      for (let i = 0; i < bytes.length; i++) if (bytes[i] !== pattern(i, ${seed})) ok = false;
      console.log(ok);
    }`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", source],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  const line = async (): Promise<string> => {
    while (!text.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("the holder ended");
      text += value;
    }
    const cut = text.indexOf("\n");
    const first = text.slice(0, cut);
    text = text.slice(cut + 1);
    return first;
  };
  const mark = new Uint8Array(JSON.parse(await line()));
  const writer = child.stdin.getWriter();
  return {
    pid: child.pid,
    mark,
    /** Whether the holder's bytes are the pattern, every one. */
    async whole(): Promise<boolean> {
      await writer.write(new Uint8Array([10]));
      return await line() === "true";
    },
    async [Symbol.asyncDispose](): Promise<void> {
      await writer.close().catch(() => {});
      await lines.cancel().catch(() => {});
      await child.status;
    },
  };
}

/** The mark a runtime would send for the holder's buffer, and its bytes. */
function markOf(
  mark: Uint8Array,
  seed: number,
  size: number,
  offset = 0,
): PullMark {
  const key = crypto.getRandomValues(new Uint8Array(MARK));
  const byte = (i: number) => pattern(i, seed);
  return {
    offset,
    key,
    masked: key.map((k, b) => k ^ mark[b]),
    saved: Uint8Array.from({ length: MARK }, (_, i) => byte(i)),
    tail: Uint8Array.from({ length: MARK }, (_, i) => byte(size - MARK + i)),
  };
}

Deno.test("a marked buffer is found in another process and read whole, its first bytes put right, nothing written there", async () => {
  for (const [size, offset] of [[8 * MIB, 0], [5 * MIB + 3, 4100]]) {
    const seed = size & 255;
    await using other = await holder(size, offset, seed);
    assert.equal(await other.whole(), false, "marked, as the runtime marks");
    const mark = markOf(other.mark, seed, size, offset);
    const at = locate(other.pid, mark, size);
    if (at === undefined && !canPull()) {
      // Linux refuses here (ptrace rules): nothing is found, and no runtime
      // is told to mark again; results take the socket (tests below).
      return console.log(
        "process_vm_readv refused here: results take the socket",
      );
    }
    assert.notEqual(at, undefined, `a buffer of ${size} at ${offset}`);
    const bytes = await pullFrom(other.pid, at!, size, mark.saved);
    assert.equal(bytes.byteLength, size);
    assert.equal(firstWrong(bytes, seed), -1, "read whole");
    assert.equal(await other.whole(), false, "nothing written there");
  }
});

Deno.test("a mark that is not there, or not at its buffer's start, or in a process that is gone, is not found", async () => {
  const size = 8 * MIB;
  await using other = await holder(size, 0, 1);
  const before = pullStats().missed;
  const elsewhere = crypto.getRandomValues(new Uint8Array(MARK));
  assert.equal(locate(other.pid, markOf(elsewhere, 1, size), size), undefined);
  // At another offset in its buffer, or bigger than any of its mappings.
  const right = markOf(other.mark, 1, size);
  assert.equal(locate(other.pid, { ...right, offset: 64 }, size), undefined);
  assert.equal(locate(other.pid, right, 2 ** 40), undefined);
  // Where the buffer does not end as it should: a copy of the mark (the
  // holder keeps some) is never taken for the buffer.
  const tail = right.tail.map((x) => x ^ 1);
  assert.equal(locate(other.pid, { ...right, tail }, size), undefined);
  assert.equal(await other.whole(), false, "nothing written where not found");
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  assert.equal(locate(gone.pid, right, size), undefined);
  assert.equal(pullStats().missed, before + 5);
  if (canPull()) {
    assert.notEqual(locate(other.pid, right, size), undefined, "it is there");
  }
});

jobTest(
  "big results are pulled from the runtime whole, and no code of the job sees the mark",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "bgjobs_pull_" });
    try {
      const before = pullStats().pulled;
      // The job checks its buffers from a timer until it is killed: a timer
      // that ran while they were marked would write "marked".
      const value = await job(
        `(() => {
      const pattern = ${PATTERN};
      const a = new Uint8Array(${6 * MIB});
      for (let i = 0; i < a.length; i++) a[i] = pattern(i, 7);
      const b = new Float64Array(${MIB}).map((_, i) => i * 0.25);
      const small = new Uint8Array(100).fill(3);
      let ticks = 0;
      setInterval(() => {
        ticks++;
        let seen = a.length === 0 && b.length === 0 ? "detached" : "clean";
        for (let i = 0; i < a.length && i < 32; i++) if (a[i] !== pattern(i, 7)) seen = "marked";
        for (let i = 0; i < b.length && i < 4; i++) if (b[i] !== i * 0.25) seen = "marked";
        Deno.writeTextFileSync("${dir}/seen", seen + " " + ticks, { append: true });
        Deno.writeTextFileSync("${dir}/seen", "\\n", { append: true });
      }, 0);
      return { a, b, small, again: a };
    })()`,
        { permissions: { write: [dir] } },
      ) as {
        a: Uint8Array;
        b: Float64Array;
        small: Uint8Array;
        again: Uint8Array;
      };
      assert.equal(firstWrong(value.a, 7), -1, "a whole");
      assert.ok(value.b.every((x, i) => x === i * 0.25), "b whole");
      assert.deepEqual([...value.small], Array(100).fill(3));
      assert.equal(value.again, value.a, "one buffer twice is one buffer");
      // Both big buffers pulled, unless Linux refuses here.
      const pulled = canPull() ? 2 : 0;
      assert.equal(pullStats().pulled, before + pulled, "big buffers pulled");
      const seen = await Deno.readTextFile(`${dir}/seen`).catch(() => "");
      assert.doesNotMatch(seen, /marked/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

jobTest(
  "outside a notebook, the next big result of a size comes whole into a buffer made ready as its job started",
  async () => {
    const n = 5 * MIB + 1; // 40 MiB and 8 bytes
    prepareAhead(false); // no size left from other tests
    const base = preparedStats();
    const first = await job(
      `new Float64Array(${n}).map((_, i) => i * 1.5)`,
    ) as Float64Array;
    // Its start makes a buffer of the first's size ready, faulted while it
    // runs (busy here, so the buffer is likely done before its result).
    const second = await job(`(() => {
      const a = new Float64Array(${n});
      for (let i = 0; i < a.length; i++) a[i] = i * 2 + 1;
      const t = Date.now();
      while (Date.now() - t < 300);
      return a;
    })()`) as Float64Array;
    assert.ok(first.every((x, i) => x === i * 1.5), "the first whole");
    assert.ok(second.every((x, i) => x === i * 2 + 1), "the second whole");
    assert.notEqual(first.buffer, second.buffer);
    const stats = preparedStats();
    assert.equal(stats.made - base.made, 1, "one made ready, at its start");
    assert.equal(stats.used - base.used, 1, "and taken by its result");
  },
);

jobTest(
  "buffers the kernel does not find, or that cannot be moved, come whole through the socket",
  async () => {
    // glibc then serves big buffers from its heap, not a mapping each: they
    // lie at any 16 bytes, where the kernel does not look (or by chance does).
    Deno.env.set("MALLOC_MMAP_THRESHOLD_", String(128 * MIB));
    const size = 4 * MIB + 8;
    const before = pullStats();
    try {
      const value = await job(
        `(() => {
      const pattern = ${PATTERN};
      const made = Array.from({ length: 8 }, (_, k) => {
        const bytes = new Uint8Array(${size});
        for (let i = 0; i < bytes.length; i++) bytes[i] = pattern(i, k);
        return bytes;
      });
      const memory = new WebAssembly.Memory({ initial: 80 });
      const wasm = new Uint8Array(memory.buffer);
      for (let i = 0; i < wasm.length; i++) wasm[i] = pattern(i, 99);
      return { made, wasm };
    })()`,
        { permissions: { env: ["MALLOC_MMAP_THRESHOLD_"] } },
      ) as {
        made: Uint8Array[];
        wasm: Uint8Array;
      };
      value.made.forEach((bytes, k) => {
        assert.equal(bytes.byteLength, size);
        assert.equal(
          firstWrong(bytes, k),
          -1,
          `buffer ${k} whole: ${JSON.stringify([pullStats(), before])}`,
        );
      });
      assert.equal(value.wasm.byteLength, 80 * 65536);
      assert.equal(firstWrong(value.wasm, 99), -1, "the wasm memory whole");
      const after = pullStats();
      assert.equal(
        after.pulled + after.missed - before.pulled - before.missed,
        8,
        "the 8 buffers marked, the wasm memory not",
      );
      assert.ok(after.missed - before.missed >= 1, "some not found");
    } finally {
      Deno.env.delete("MALLOC_MMAP_THRESHOLD_");
    }
  },
);

Deno.test("a notebook that cannot pull (no ffi) gets big results whole through the socket", async () => {
  const script = `
    import { job, jobs } from "${ROOT}mod.ts";
    import { pullStats } from "${ROOT}lib/os/pull.ts";
    const v = await job(() => new Float64Array(${MIB}).map((_, i) => i * 0.5));
    console.log(JSON.stringify({
      ok: v.length === ${MIB} && v.every((x, i) => x === i * 0.5),
      stats: pullStats(),
    }));
    await jobs.shutdown();`;
  const dir = await Deno.makeTempDir({ prefix: "bgjobs_pull_" });
  await Deno.writeTextFile(`${dir}/no_ffi.ts`, script);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-env",
      "--allow-sys",
      "--allow-net",
      `${dir}/no_ffi.ts`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output().finally(() => Deno.remove(dir, { recursive: true }));
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.deepEqual(JSON.parse(text.trim().split("\n").at(-1)!), {
    ok: true,
    stats: { pulled: 0, missed: 0 },
  });
});
