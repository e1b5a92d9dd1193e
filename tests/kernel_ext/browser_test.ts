/**
 * The live panel in a real browser: classic Jupyter Notebook, headless
 * Chromium. A cell starts a job with progress and logs, another cell runs
 * meanwhile; the DOM shows the first cell's panel updating live and
 * finishing, and the second cell holding only its own output. Screenshots
 * go to a temporary directory, or to docs/ (the README's pictures) with
 * `BGJOBS_SCREENSHOTS=docs`, so a test run leaves the checkout as it was.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { Page } from "npm:puppeteer-core@24";
import { MOD_URL } from "../_kernel.ts";
import {
  missingBrowserTools,
  startNotebookServer,
  writeNotebook,
} from "../_browser.ts";
import { closeChromium, launchChromium } from "../_chromium.ts";

const SHOTS = Deno.env.get("BGJOBS_SCREENSHOTS") === "docs"
  ? fileURLToPath(new URL("../../docs/", import.meta.url))
  : `${Deno.makeTempDirSync({ prefix: "bgjobs-shots-" })}/`;
const STEPS = 20;

const CELLS = [
  `import { job, jobs, progress } from "${MOD_URL}";

const crawl = job(async () => {
  const titles = [];
  for (let i = 1; i <= ${STEPS}; i++) {
    await new Promise((r) => setTimeout(r, 200));
    console.log(\`fetched page \${i}: <title>Page \${i}</title>\`);
    titles.push(\`Page \${i}\`);
    progress(i, ${STEPS});
  }
  return titles;
}, { name: "crawl ${STEPS} pages" });`,
  `const answer = 6 * 7;
console.log("other cell says", answer);`,
  `jobs`,
];

/** What the test reads from the DOM, in the page. */
const OBSERVE = `(() => {
  const cells = document.querySelectorAll("#notebook-container .cell");
  const panel = cells[0]?.querySelector(".bgjobs-panel");
  const prompt = (c) => c?.querySelector(".input_prompt")?.textContent ?? "";
  return {
    status: panel?.dataset.status ?? null,
    percent: panel?.querySelector("[data-percent]")?.dataset.percent ?? null,
    logs: panel?.querySelector(".bgjobs-logs")?.textContent ?? "",
    panel: panel?.textContent ?? "",
    outputs: cells[0]?.querySelectorAll(".output_area").length ?? 0,
    other: cells[1]?.querySelector(".output")?.textContent ?? "",
    otherPanels: cells[1]?.querySelectorAll(".bgjobs-panel").length ?? 0,
    otherDone: /\\[\\d+\\]/.test(prompt(cells[1])),
  };
})()`;

interface Observation {
  t: number;
  status: string | null;
  percent: string | null;
  logs: string;
  panel: string;
  outputs: number;
  other: string;
  otherPanels: number;
  otherDone: boolean;
}

const missing = await missingBrowserTools();
if (missing) console.warn(`browser_test skipped: ${missing}`);

Deno.test({
  name: "in classic Notebook + Chromium the panel updates live in its own cell",
  ignore: missing !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const started = Date.now();
    await using server = await startNotebookServer();
    await writeNotebook(`${server.dir}/panel.ipynb`, CELLS);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(
        `${server.url}/notebooks/panel.ipynb?token=${server.token}`,
        { waitUntil: "domcontentloaded" },
      );
      await page.waitForFunction(
        "window.Jupyter?.notebook?._fully_loaded && Jupyter.notebook.kernel?.is_connected()",
        { timeout: 30_000 },
      ).catch((error) => {
        throw new Error(`kernel did not connect\n${server.log()}`, {
          cause: error,
        });
      });

      await runCell(page, 0);
      await page.waitForFunction(
        `document.querySelector("#notebook-container .cell .bgjobs-panel")`,
        { timeout: 30_000 },
      );
      await runCell(page, 1);

      const seen: Observation[] = [];
      let shot = false;
      const end = Date.now() + 30_000;
      while (Date.now() < end) {
        const dom = await page.evaluate(OBSERVE) as Omit<Observation, "t">;
        const o: Observation = { t: Date.now(), ...dom };
        seen.push(o);
        const percent = Number(o.percent);
        if (!shot && o.otherDone && percent >= 40 && percent <= 80) {
          await screenshot(page, "panel.png");
          shot = true;
        }
        if (o.status === "completed") break;
        await new Promise((r) => setTimeout(r, 150));
      }
      const last = seen.at(-1)!;
      const trail = JSON.stringify(seen.map((o) => [o.status, o.percent]));
      assert.equal(last.status, "completed", trail);
      assert.ok(seen.some((o) => o.status === "running"), trail);

      // Live: the bar moved while we watched, also after cell 2 had finished
      // and the kernel was idle.
      const percents = new Set(seen.map((o) => o.percent).filter(Boolean));
      assert.ok(percents.size >= 4, `percents seen: ${[...percents]}`);
      const afterOther = new Set(
        seen.filter((o) => o.otherDone && o.status === "running")
          .map((o) => o.percent),
      );
      assert.ok(afterOther.size >= 2, `after cell 2: ${[...afterOther]}`);
      assert.ok(shot, "a screenshot was taken mid-run");

      assert.equal(last.percent, "100");
      assert.match(
        last.logs,
        new RegExp(`fetched page ${STEPS}: <title>Page ${STEPS}</title>`),
      );
      assert.match(last.panel, /"Page 1"/, "the result preview");
      assert.equal(
        last.outputs,
        1,
        "the panel is the launching cell's only output",
      );

      // Cell 2 holds its own output and never anything of the job's. (Its
      // prompt number can show just before its output: the reply and the
      // output come on different channels.)
      assert.match(last.other, /other cell says 42/);
      for (const o of seen) {
        assert.doesNotMatch(o.other, /fetched page|Page \d|crawl/);
        assert.equal(o.otherPanels, 0);
      }

      await runCell(page, 2);
      await page.waitForFunction(
        `document.querySelectorAll("#notebook-container .cell")[2]?.querySelector(".bgjobs-table")`,
        { timeout: 15_000 },
      );
      const row = await page.evaluate(
        `document.querySelector(".bgjobs-table tbody tr")?.textContent`,
      );
      assert.match(String(row), /crawl 20 pages.*completed/);
      await screenshot(page, "panel_done.png");
      console.log(`browser test took ${Date.now() - started} ms`);
    } finally {
      await closeChromium(browser);
    }
  },
});

async function runCell(page: Page, index: number): Promise<void> {
  await page.evaluate(`Jupyter.notebook.get_cell(${index}).execute()`);
}

async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(SHOTS, { recursive: true });
  const container = await page.$("#notebook-container");
  assert.ok(container, "the notebook is on the page");
  await container.screenshot({ path: `${SHOTS}${name}` });
}
