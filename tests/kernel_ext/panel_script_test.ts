/**
 * The panel's updater outside a kernel, with its sends recorded: the update
 * rate, the final update, timers that never keep a script alive, and that
 * importing bgjobs in a plain script displays nothing.
 */
import assert from "node:assert/strict";
import { makeJob } from "../../lib/engine/job_state.ts";
import { jobObservers } from "../../lib/api/job.ts";
import { jobs } from "../../lib/api/jobs.ts";
import { showPanel } from "../../kernel_ext/panel.ts";
import { renderPanel } from "../../kernel_ext/panel_view.ts";
import { renderJobsTable } from "../../kernel_ext/table.ts";
import { STATUS_COLORS } from "../../kernel_ext/_html.ts";
import { registerKernelExtension } from "../../kernel_ext/register.ts";

interface Sent {
  data: Record<string, string>;
  displayId: string;
  update: boolean;
  t: number;
}

function recorder(): [
  Sent[],
  (d: Record<string, string>, id: string, u: boolean) => void,
] {
  const sent: Sent[] = [];
  return [sent, (data, displayId, update) => {
    sent.push({ data, displayId, update, t: Date.now() });
  }];
}

const sleep = (ms: number): Promise<void> =>
  new Promise((r) => setTimeout(r, ms));

Deno.test("a plain script registers no panel and no table renderer", async () => {
  await import("../../mod.ts");
  assert.equal(registerKernelExtension(), false);
  assert.equal(jobObservers.size, 0);
  assert.ok(!(Symbol.for("Jupyter.display") in jobs));
});

Deno.test("showPanel() displays at once, updates at most 10 times a second, and always once more at the end", async () => {
  const [job, state] = makeJob(7, "busy <logger>");
  const [sent, send] = recorder();
  const id = showPanel(job, state, {}, { send });
  assert.equal(id, `bgjobs-${job.uuid}`);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].update, false);
  assert.match(sent[0].data["text/html"], /data-status="queued"/);
  assert.match(sent[0].data["text/html"], /busy &lt;logger&gt;/);

  state.start();
  const started = Date.now();
  for (let i = 0; i < 100; i++) {
    state.logs.append(`line ${i}\n`);
    state.progress = { done: i + 1, total: 100 };
    state.changed();
    await sleep(5);
  }
  const busy = Date.now() - started;
  const updates = sent.slice(1);
  assert.ok(updates.every((s) => s.update && s.displayId === id));
  assert.ok(
    updates.length <= busy / 100 + 2,
    `${updates.length} in ${busy} ms`,
  );
  for (let i = 1; i < updates.length; i++) {
    assert.ok(updates[i].t - updates[i - 1].t >= 95, "at most every 100 ms");
  }

  state.complete(42);
  await sleep(150);
  const final = sent.at(-1)!.data;
  assert.match(final["text/html"], /data-status="completed"/);
  assert.match(final["text/html"], /line 99/);
  assert.match(final["text/plain"], /Job 7 · busy <logger> · completed/);
  assert.match(final["text/plain"], /Result: 42/);
  const count = sent.length;
  await sleep(1200);
  assert.equal(sent.length, count, "no tick after the end");
});

Deno.test("a queued job's panel sends nothing until the job starts, then ticks while it runs", async () => {
  const [job, state] = makeJob(10, "waiting");
  const [sent, send] = recorder();
  showPanel(job, state, {}, { send });
  await sleep(1200);
  assert.equal(sent.length, 1, "only the display itself while queued");
  state.start();
  const until = async (test: () => boolean): Promise<void> => {
    for (let i = 0; i < 100 && !test(); i++) await sleep(50);
  };
  await until(() => sent.length >= 2);
  assert.match(sent[1].data["text/html"], /data-status="running"/);
  await until(() => sent.length >= 3);
  assert.equal(sent.length, 3, "a running job's elapsed time ticks");
  assert.match(sent[2].data["text/plain"], /running · \d+\.\d s/);
  state.complete(1);
  await until(() => /completed/.test(sent.at(-1)!.data["text/html"]));
  assert.match(sent.at(-1)!.data["text/html"], /data-status="completed"/);
});

Deno.test("a job that starts and ends at once shows once more, with its end", async () => {
  const [job, state] = makeJob(11, "quick");
  const [sent, send] = recorder();
  showPanel(job, state, {}, { send });
  await sleep(200); // queued a while: nothing to wait for
  const ended = Date.now();
  state.start();
  state.complete(5);
  await sleep(300);
  assert.equal(sent.length, 2, "the display, then the end");
  assert.match(sent[1].data["text/html"], /data-status="completed"/);
  assert.ok(sent[1].t - ended < 1000, `shown ${sent[1].t - ended} ms after`);
});

Deno.test("showPanel() with display: false sends nothing", () => {
  const [job, state] = makeJob(8, "quiet");
  const [sent, send] = recorder();
  assert.equal(showPanel(job, state, { display: false }, { send }), undefined);
  state.start();
  state.complete(1);
  assert.equal(sent.length, 0);
});

Deno.test("a running job's panel timers do not keep a script alive", async () => {
  const script = `
    import { makeJob } from "${new URL(
    "../../lib/engine/job_state.ts",
    import.meta.url,
  )}";
    import { showPanel } from "${new URL(
    "../../kernel_ext/panel.ts",
    import.meta.url,
  )}";
    const [job, state] = makeJob(1, "forever");
    showPanel(job, state, {}, { send: () => {} });
    state.start();
    state.changed();
  `;
  const started = Date.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  assert.ok(Date.now() - started < 5000, "the script exited");
});

Deno.test("the panel escapes output, drops colour codes, shows a redrawn line as it ended", () => {
  const [job, state] = makeJob(9, "render");
  state.start();
  state.logs.append("<script>alert(1)</script>\n");
  state.logs.append("\x1b[31mred\x1b[0m text\n");
  state.logs.append("10%\r50%\r100%\r\n");
  state.fail(new Error("stopped by hand"), "killed");
  const [sent, send] = recorder();
  showPanel(job, state, {}, { send });
  const { "text/html": html, "text/plain": text } = sent[0].data;
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.doesNotMatch(html, /<script>/);
  assert.ok(!(html + text).includes("\x1b"), "no ANSI codes");
  assert.match(html, /red text/);
  assert.match(text, /│ 100%$/m);
  assert.doesNotMatch(text, /50%/);
  assert.match(html, /data-status="killed"/);
  assert.match(html, />Killed<\/div>/);
  assert.match(html, /stopped by hand/);
});

Deno.test("panel and table show a waiting job, and the attempt and why the last one failed on a retry", () => {
  const [job, state] = makeJob(10, "flaky");
  state.status = "waiting";
  assert.match(renderPanel(job)["text/html"], /data-status="waiting"/);
  assert.match(renderJobsTable([job])["text/plain"], /10\s+flaky\s+waiting/);
  assert.ok(STATUS_COLORS.waiting.startsWith("#"));

  state.maxAttempts = 3;
  state.start();
  assert.doesNotMatch(renderPanel(job)["text/plain"], /attempt/);
  state.retry(new Error("its runtime was killed by SIGKILL"));
  state.start();
  const panel = renderPanel(job);
  assert.match(
    panel["text/plain"],
    /^Job 10 · flaky · running · attempt 2\/3 ·/,
  );
  assert.match(
    panel["text/plain"],
    /attempt 1 failed: its runtime was killed by SIGKILL/,
  );
  assert.match(panel["text/html"], /class="bgjobs-attempt"[^>]*>attempt 2\/3</);
  const table = renderJobsTable([job]);
  assert.match(table["text/plain"], /running \(attempt 2\/3\)/);
  assert.match(table["text/html"], /bgjobs-attempt[^>]*>attempt 2\/3</);
  state.complete("ok");
  assert.match(renderPanel(job)["text/plain"], /completed · attempt 2\/3/);
});
