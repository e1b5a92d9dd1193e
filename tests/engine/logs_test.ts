import assert from "node:assert/strict";
import { job, jobs } from "../../mod.ts";
import { LogBuffer, MAX_LOG_CHARS } from "../../lib/engine/log_buffer.ts";
import { GATHER_MS, OutputFilter } from "../../lib/launch/output.ts";
import { jobTest } from "../_util.ts";

jobTest(
  "everything a job writes lands in logs, in order, and never in the control channel",
  async () => {
    const j = job(async () => {
      console.log("one");
      console.error("two");
      Deno.stdout.writeSync(new TextEncoder().encode("three\n"));
      await Deno.stderr.write(new TextEncoder().encode("four\n"));
      new Deno.Command("/bin/sh", { args: ["-c", "echo five; echo six >&2"] })
        .outputSync();
      await new Deno.Command("/bin/sh", {
        args: ["-c", "echo five; echo six >&2"],
        stdout: "inherit",
        stderr: "inherit",
      }).output();
      // Bytes that look like a control frame change nothing.
      Deno.stdout.writeSync(new Uint8Array([0, 0, 0, 4, 255, 13, 0, 0]));
      console.log("seven");
      return "result intact";
    }, { permissions: { run: ["/bin/sh"] } });
    assert.equal(await j, "result intact");
    const lines = j.logs.split("\n");
    assert.deepEqual(lines.slice(0, 6), [
      "one",
      "two",
      "three",
      "four",
      "five",
      "six",
    ]);
    assert.match(lines.at(-2)!, /seven$/);
  },
);

jobTest(
  "a job printing 1,000,000 lines keeps logs bounded and the kernel responsive",
  async () => {
    let ticks = 0;
    let worstLag = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      worstLag = Math.max(worstLag, now - last - 10);
      last = now;
      ticks++;
    }, 10);
    try {
      const j = job(() => {
        const line = "x".repeat(30);
        for (let i = 0; i < 1_000_000; i++) console.log(i, line);
        return "printed";
      });
      assert.equal(await j, "printed");
      assert.ok(
        j.logs.length <= MAX_LOG_CHARS + 100,
        `logs hold ${j.logs.length} chars`,
      );
      assert.match(j.logs, /^\[… \d+ characters of older output dropped …\]\n/);
      assert.match(j.logs, /999999 x{30}\n$/);
      assert.ok(ticks > 10, "the kernel's timers ran during the flood");
      assert.ok(worstLag < 1000, `the kernel stalled for ${worstLag} ms`); // generous
    } finally {
      clearInterval(timer);
    }
  },
);

jobTest(
  "a job printing line by line gets every line, in order, and ends at once",
  async () => {
    const t0 = performance.now();
    const j = job(() => {
      for (let i = 0; i < 20_000; i++) console.log(`line ${i}`);
      return "done";
    });
    assert.equal(await j, "done");
    const lines = j.logs.split("\n");
    assert.equal(lines.pop(), "");
    assert.equal(lines.length, 20_000);
    assert.ok(lines.every((line, i) => line === `line ${i}`));
    assert.ok(performance.now() - t0 < 10_000);
  },
);

Deno.test("OutputFilter.gather waits a little, and not at all after hurry()", async () => {
  const output = new OutputFilter("\0end\0", () => {});
  let t0 = performance.now();
  await output.gather(GATHER_MS);
  assert.ok(performance.now() - t0 >= GATHER_MS - 0.5);
  const waiting = output.gather(60_000);
  t0 = performance.now();
  output.hurry(); // the job ended: the pending wait ends now
  await waiting;
  await output.gather(60_000);
  assert.ok(performance.now() - t0 < 1000);
});

Deno.test("LogBuffer drops the oldest text past its bound and says how much", () => {
  const logs = new LogBuffer(10);
  logs.append("abcdef\n");
  logs.append("ghijk\n");
  assert.equal(logs.length, 10);
  assert.equal(logs.dropped, 3);
  assert.equal(
    logs.text,
    "[… 3 characters of older output dropped …]\ndef\nghijk\n",
  );
  assert.deepEqual(logs.tail(1), ["ghijk"]);
  logs.append("0123456789ABC");
  assert.equal(logs.text.endsWith("\n3456789ABC"), true);
});

jobTest("log tests leave no runtime behind", async () => {
  await jobs.shutdown();
});
