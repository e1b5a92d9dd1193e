/**
 * The live panel and the `jobs` table in a real `deno jupyter` kernel, and
 * the routing guarantee: a job's output reaches the notebook only through
 * its own panel, never another cell.
 */
import assert from "node:assert/strict";
import {
  type Cell,
  type DisplayEvent,
  type Kernel,
  startBgjobsKernel,
} from "../_kernel.ts";

const LINES = 30;

/** A test in a fresh kernel with bgjobs loaded; jobs outlive its cells. */
function panelTest(name: string, fn: (k: Kernel) => Promise<void>): void {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using k = await startBgjobsKernel();
      await fn(k);
    },
  });
}

function html(event: DisplayEvent | undefined): string {
  return String(event?.data["text/html"] ?? "");
}

// The panel a cell shows: its display, not an update of another job's panel
// that came while it ran.
function panelOf(cell: Cell): string {
  const id = cell.displays.find((d) => d.msgType === "display_data")
    ?.displayId;
  assert.ok(id?.startsWith("bgjobs-"), `no panel in\n${cell.describe()}`);
  return id!;
}

panelTest(
  "a job's output reaches only its own panel while three other cells run",
  async (k) => {
    const launch = await k.execute(`
      import { job, jobs } from "./mod.ts";
      const j = job(async () => {
        for (let i = 0; i < ${LINES}; i++) {
          console.log("routed-line-" + i);
          await new Promise((r) => setTimeout(r, 100));
        }
        return "routed-result";
      }, { name: "logger" });
    `);
    assert.equal(launch.status, "ok", launch.describe());
    const displayId = panelOf(launch);
    assert.equal(launch.displays[0].msgType, "display_data");

    const others = await k.run([
      `console.log("cell two"); await new Promise((r) => setTimeout(r, 1000)); 2`,
      `await new Promise((r) => setTimeout(r, 1000)); await Deno.jupyter.display({ "text/plain": "three" }, { raw: true })`,
      `await new Promise((r) => setTimeout(r, 1000)); "four"`,
    ]);
    const last = await k.execute("await j.done");
    assert.equal(last.text, '"completed"', last.describe());
    await k.listen(300);

    const leaked = /routed-(line|result)/;
    for (const message of k.messages) {
      if (message.parentMsgId === launch.msgId) continue;
      const text = JSON.stringify(message.content);
      if (message.msgType === "update_display_data") {
        // Stamped with whatever cell runs now, but it only ever replaces the
        // launching cell's panel.
        assert.equal(message.content.transient?.display_id, displayId, text);
        continue;
      }
      assert.doesNotMatch(text, leaked, `${message.msgType} leaked: ${text}`);
    }
    for (const cell of [...others, last]) {
      assert.equal(cell.status, "ok", cell.describe());
      assert.ok(
        cell.displays.every((d) =>
          d.displayId !== displayId || d.msgType === "update_display_data"
        ),
        cell.describe(),
      );
    }
    assert.equal(others[0].stdout, "cell two\n");

    const events = k.displays(displayId);
    const final = html(events.at(-1));
    assert.match(final, /data-status="completed"/);
    assert.match(final, /routed-result/);
    for (let i = LINES - 10; i < LINES; i++) {
      assert.match(final, new RegExp(`routed-line-${i}\\b`), `line ${i}`);
    }
    assert.doesNotMatch(final, new RegExp(`routed-line-${LINES - 11}\\b`));
    const seen = new Set(
      events.flatMap((e) => html(e).match(/routed-line-\d+/g) ?? []),
    );
    assert.equal(seen.size, LINES, `lines ever shown: ${[...seen]}`);

    const logs = await k.execute(`j.logs.trim().split("\\n").length`);
    assert.equal(logs.text, String(LINES), logs.describe());

    // At most ~10 updates a second over the job's life.
    const updates = events.filter((e) => e.msgType === "update_display_data");
    const span = updates.at(-1)!.t - events[0].t;
    assert.ok(
      updates.length <= span / 100 + 3,
      `${updates.length} updates in ${span.toFixed(0)} ms`,
    );
    assert.ok(updates.length >= 10, `only ${updates.length} updates`);
  },
);

panelTest(
  "the panel shows progress with rate and ETA, the result, a map's overall progress, and a failure's stack",
  async (k) => {
    const launch = await k.execute(`
      import { job, jobs, progress } from "./mod.ts";
      const p = job(async () => {
        for (let i = 1; i <= 10; i++) {
          await new Promise((r) => setTimeout(r, 120));
          progress(i, 10);
        }
        return { total: 10, items: ["a", "<b>"] };
      }, { name: "counting" });
    `);
    const progressId = panelOf(launch);
    const failing = await k.execute(`
      const f = job(() => {
        const depth = 1;
        throw new Error("kaboom at depth " + depth);
      });
    `);
    const failId = panelOf(failing);
    const mapped = await k.execute(`
      const m = jobs.map(Array.from({ length: 40 }, (_, i) => i), async (x) => {
        await new Promise((r) => setTimeout(r, 20));
        return x * x;
      }, { concurrency: 2, name: "squares" });
    `);
    const mapPanels = mapped.displays.filter((d) =>
      d.msgType === "display_data"
    );
    assert.equal(mapPanels.length, 1, "one panel for the whole map");
    const mapId = panelOf(mapped);
    // Every panel shows its final state once this returns.
    await k.execute("await jobs.wait()");
    await k.listen(300);

    const events = k.displays(progressId).map(html);
    const percents = new Set(
      events.flatMap((h) => h.match(/data-percent="(\d+)"/)?.[1] ?? []),
    );
    assert.ok(percents.size >= 3, `percents seen: ${[...percents]}`);
    assert.ok(events.some((h) => /ETA <span class="bgjobs-eta">/.test(h)));
    const done = events.at(-1)!;
    assert.match(done, /data-status="completed"/);
    assert.match(done, /data-percent="100"/);
    assert.match(done, /class="bgjobs-result"/);
    assert.match(done, /&quot;&lt;b&gt;&quot;/, "result preview escaped");
    const doneText = String(k.displays(progressId).at(-1)!.data["text/plain"]);
    assert.match(doneText, /Job \d+ · counting · completed/);
    assert.match(doneText, /\[#{20}\] 10\/10 \(100%\)/);

    const mapEvents = k.displays(mapId).map(html);
    const mapFinal = mapEvents.at(-1)!;
    assert.match(mapFinal, /data-status="completed"/);
    assert.match(mapFinal, /40\/40 \(100%\)/);
    assert.match(mapFinal, /class="bgjobs-rate">[\d.]+\/s/);
    assert.match(mapFinal, /\b361\b/, "the preview holds 19 * 19");
    assert.match(mapFinal, /20 more items/, "and says what it left out");

    const failed = html(k.displays(failId).at(-1));
    assert.match(failed, /data-status="failed"/);
    assert.match(failed, /class="bgjobs-error"/);
    assert.match(failed, /kaboom at depth 1/);
    assert.match(failed, /&lt;job&gt;:\d+:\d+/, "a frame in the job's code");
    assert.match(failed, /\d+ \| +throw new Error/, "the source line");
  },
);

panelTest(
  "display: false shows no panel, and jobs renders as a table",
  async (k) => {
    const quiet = await k.execute(`
      import { job, jobs } from "./mod.ts";
      const q = job(() => { console.log("quiet-output"); return 1; }, { display: false, name: "quiet" });
      await q;
    `);
    assert.equal(quiet.status, "ok", quiet.describe());
    assert.deepEqual(
      quiet.displays.filter((d) => d.msgType !== "execute_result"),
      [],
      quiet.describe(),
    );
    assert.equal(quiet.stdout, "");
    await k.execute(`
      const a = job(() => "a-result", { name: "first" });
      const b = job(() => { throw new RangeError("b-broke"); }, { name: "second" });
      await a.done; await b.done;
    `);
    const table = await k.execute("jobs");
    const bundle = table.result ?? {};
    const tableHtml = String(bundle["text/html"] ?? "");
    assert.match(tableHtml, /<table class="bgjobs-table"/, table.describe());
    for (const head of ["id", "name", "status", "elapsed", "progress"]) {
      assert.match(tableHtml, new RegExp(`<th[^>]*>${head}</th>`));
    }
    assert.equal(tableHtml.match(/<tr data-job-id=/g)?.length, 3);
    assert.match(tableHtml, /data-status="completed"/);
    assert.match(tableHtml, /data-status="failed"/);
    assert.match(tableHtml, /&quot;a-result&quot;/);
    assert.match(tableHtml, /b-broke/);
    const text = String(bundle["text/plain"]);
    assert.match(
      text,
      /^id +name +status +where +elapsed +progress +result \/ error/,
    );
    assert.match(text, /first +completed/);
    const plain = await k.execute("jobs.status()");
    assert.match(plain.text ?? "", /second +failed/);
    const logs = await k.execute("q.logs");
    assert.equal(logs.text, '"quiet-output\\n"', logs.describe());
    for (const message of k.messages) {
      if (message.parentMsgId === logs.msgId) continue;
      assert.doesNotMatch(
        JSON.stringify(message.content.data ?? {}),
        /quiet-output/,
      );
    }
  },
);
