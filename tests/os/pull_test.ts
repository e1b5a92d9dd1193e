// Pulling a big result from its runtime's memory (`lib/os/pull.ts`), with
// real processes: the kernel finds a marked buffer in another process, puts
// its first bytes back there, and reads it whole; what is not marked there is
// not found; a notebook that cannot pull (no `ffi`) gets big results whole
// through the socket; and no code of the job ever sees the mark.
import assert from "node:assert/strict";
import { job } from "../../mod.ts";
import { locate, pullFrom, pullStats } from "../../lib/os/pull.ts";
import { MARK } from "../../lib/protocol/byte_streams.ts";
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

Deno.test("a marked buffer is found in another process, its bytes put back there, and read whole", async () => {
  for (const [size, offset] of [[8 * MIB, 0], [5 * MIB + 3, 4100]]) {
    const seed = size & 255;
    await using other = await holder(size, offset, seed);
    const saved = Uint8Array.from({ length: MARK }, (_, i) => pattern(i, seed));
    assert.equal(await other.whole(), false, "marked, as the runtime marks");
    const at = locate(other.pid, { offset, mark: other.mark, saved }, size);
    assert.notEqual(at, undefined, `a buffer of ${size} at ${offset}`);
    assert.equal(await other.whole(), true, "its first bytes are back");
    const bytes = await pullFrom(other.pid, at!, size, saved);
    assert.equal(bytes.byteLength, size);
    assert.equal(firstWrong(bytes, seed), -1, "read whole");
  }
});

Deno.test("a mark that is not there, or in a process that is gone, is not found", async () => {
  const size = 8 * MIB;
  await using other = await holder(size, 0, 1);
  const saved = new Uint8Array(MARK);
  const elsewhere = crypto.getRandomValues(new Uint8Array(MARK));
  const before = pullStats().missed;
  assert.equal(
    locate(other.pid, { offset: 0, mark: elsewhere, saved }, size),
    undefined,
  );
  // At another offset in its buffer, or bigger than any of its mappings.
  assert.equal(
    locate(other.pid, { offset: 64, mark: other.mark, saved }, size),
    undefined,
  );
  assert.equal(
    locate(other.pid, { offset: 0, mark: other.mark, saved }, 2 ** 40),
    undefined,
  );
  assert.equal(await other.whole(), false, "nothing written where not found");
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  assert.equal(
    locate(gone.pid, { offset: 0, mark: other.mark, saved }, size),
    undefined,
  );
  assert.equal(pullStats().missed, before + 4);
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
        let seen = "clean";
        for (let i = 0; i < 32; i++) if (a[i] !== pattern(i, 7)) seen = "marked";
        for (let i = 0; i < 4; i++) if (b[i] !== i * 0.25) seen = "marked";
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
      assert.equal(pullStats().pulled, before + 2, "both big buffers pulled");
      const seen = await Deno.readTextFile(`${dir}/seen`).catch(() => "");
      assert.doesNotMatch(seen, /marked/);
    } finally {
      await Deno.remove(dir, { recursive: true });
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
