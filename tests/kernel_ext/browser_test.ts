/**
 * The live panel, the `jobs` table and a kill in real browsers: headless
 * Chromium on classic Notebook 6.4, JupyterLab 4 and Notebook 7, one server
 * each, started once. A cell starts a job with progress and logs while
 * another cell runs; the DOM shows the first cell's panel updating live
 * (also once the kernel is idle) and finishing, and no other cell ever
 * holding anything of the job's. Then a cell kills a spinning job and shows
 * `jobs`. Every text of the panels and the table must contrast 4.5:1 with
 * what it is painted on (WCAG AA), in JupyterLab Light and Dark too.
 *
 * With `BGJOBS_SCREENSHOTS=docs` the JupyterLab run saves the README's
 * pictures, a panel mid-run in the light and the dark theme, to
 * `docs/panel.png` and `docs/panel_dark.png`; otherwise nothing is saved.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  FRONTENDS,
  missingBrowserTools,
  startNotebookServer,
  writeNotebook,
} from "../_browser.ts";
import { closeChromium, launchChromium } from "../_chromium.ts";
import { type CellView, NotebookPage } from "../_notebook_page.ts";

const DOCS = Deno.env.get("BGJOBS_SCREENSHOTS") === "docs"
  ? fileURLToPath(new URL("../../docs/", import.meta.url))
  : undefined;
const STEPS = 20;
const CRAWL = `crawl ${STEPS} pages`;

const CELLS = [
  `import { job, jobs, progress } from "jsr:@x/bgjobs";

const crawl = job(async () => {
  const titles = [];
  for (let i = 1; i <= ${STEPS}; i++) {
    await new Promise((r) => setTimeout(r, 200));
    console.log(\`fetched page \${i}: <title>Page \${i}</title>\`);
    titles.push(\`Page \${i}\`);
    progress(i, ${STEPS});
  }
  return titles;
}, { name: "${CRAWL}" });`,
  `const answer = 6 * 7;
console.log("other cell says", answer);`,
  `const spin = job(() => { while (true); }, { name: "spin forever" });
const broken = job(() => {
  throw new Error("page 404");
}, { name: "fetch a missing page" });`,
  `await jobs.kill(spin.id);
await broken.done;
jobs`,
];
/** The cell that launches each job. */
const LAUNCHED_IN: Record<string, number> = {
  [CRAWL]: 0,
  "spin forever": 2,
  "fetch a missing page": 2,
};
const JOB_TEXT = /fetched page|Page \d|page 404/;

/** Texts whose contrast is measured, by what they are. */
const CONTRAST_TARGETS: Record<string, string> = {
  "job name": ".bgjobs-panel .bgjobs-name",
  "status badge": ".bgjobs-status",
  "progress text": ".bgjobs-progress",
  "log lines": ".bgjobs-logs",
  "table header": ".bgjobs-table th",
  "result preview": ".bgjobs-result, .bgjobs-table code",
  "any text": ".bgjobs-panel *, .bgjobs-table *",
};
const MIN_CONTRAST = 4.5;

/** Where a cell shows what it must not: a job's panel or output elsewhere. */
function strays(cells: CellView[]): string[] {
  const found: string[] = [];
  cells.forEach((cell, i) => {
    for (const panel of cell.panels) {
      if (LAUNCHED_IN[panel.name] !== i) {
        found.push(`cell ${i} shows the panel of "${panel.name}"`);
      }
    }
    // A jobs table shows results by design; it must be the cell's only
    // output (checked once it is there).
    const own = Object.values(LAUNCHED_IN).includes(i) || cell.table;
    if (!own && JOB_TEXT.test(cell.text)) {
      found.push(`cell ${i} shows job output: ${cell.text}`);
    }
  });
  return found;
}

interface Observation {
  status: string | undefined;
  percent: string | null;
  otherRan: boolean;
}

/**
 * Runs the crawl (cell 0) and cell 1 while it runs; watches the crawl's
 * panel until it completes, calling `atMidRun` once when it is between 40
 * and 80 % and cell 1 has finished.
 */
async function runCrawl(
  nb: NotebookPage,
  atMidRun?: () => Promise<void>,
): Promise<void> {
  const before = (await nb.cells())[0].panels[0]?.id;
  await nb.run(0);
  const id = await nb.until("a new panel in cell 0", (cells) => {
    const panel = cells[0].panels[0];
    return panel && panel.id !== before ? panel.id : undefined;
  });
  await nb.run(1);
  const seen: Observation[] = [];
  let midRun = false;
  let last: CellView[] = [];
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    last = await nb.cells();
    assert.deepEqual(strays(last), []);
    const panel = last[0].panels.find((p) => p.id === id);
    const o = {
      status: panel?.status,
      percent: panel?.percent ?? null,
      otherRan: last[1].ran,
    };
    seen.push(o);
    const percent = Number(o.percent);
    if (!midRun && o.otherRan && percent >= 40 && percent <= 80) {
      midRun = true;
      await atMidRun?.();
    }
    if (o.status === "completed") break;
    await new Promise((r) => setTimeout(r, 150));
  }
  const trail = JSON.stringify(seen.map((o) => [o.status, o.percent]));
  assert.equal(seen.at(-1)?.status, "completed", trail);
  assert.ok(seen.some((o) => o.status === "running"), trail);
  assert.ok(midRun, `the panel was seen mid-run: ${trail}`);
  // Live: the bar moved while we watched.
  const percents = new Set(seen.map((o) => o.percent).filter(Boolean));
  assert.ok(percents.size >= 4, `percents seen: ${[...percents]}`);
  const panel = last[0].panels.find((p) => p.id === id)!;
  assert.equal(panel.percent, "100");
  assert.match(
    panel.logs,
    new RegExp(`fetched page ${STEPS}: <title>Page ${STEPS}</title>`),
  );
  assert.match(panel.text, /"Page 1"/, "the result preview");
  assert.equal(last[0].outputs, 1, "the panel is the cell's only output");
  // Also after cell 1 had finished and the kernel was idle. (Its prompt
  // number can show just before its output: the reply and the output come
  // on different channels.)
  const afterOther = new Set(
    seen.filter((o) => o.otherRan && o.status === "running")
      .map((o) => o.percent),
  );
  assert.ok(afterOther.size >= 2, `after cell 1: ${[...afterOther]}`);
  assert.match(last[1].text, /other cell says 42/);
}

/** Cell 2 starts a spinning and a failing job, cell 3 kills one and shows `jobs`. */
async function killAndTable(nb: NotebookPage): Promise<void> {
  await nb.run(2);
  await nb.until(
    "spin running in cell 2",
    (cells) =>
      cells[2].panels.some((p) =>
        p.name === "spin forever" && p.status === "running"
      ) || undefined,
  );
  await nb.run(3);
  const cells = await nb.until("the jobs table in cell 3", (cells) => {
    assert.deepEqual(strays(cells), []);
    return cells[3].table &&
        cells[2].panels.every((p) =>
          p.status === "killed" || p.status === "failed"
        )
      ? cells
      : undefined;
  });
  const panels = Object.fromEntries(cells[2].panels.map((p) => [p.name, p]));
  assert.equal(panels["spin forever"]?.status, "killed");
  assert.match(panels["spin forever"].text, /Killed/);
  assert.equal(panels["fetch a missing page"]?.status, "failed");
  assert.match(panels["fetch a missing page"].text, /page 404/);
  const rows = Object.fromEntries(
    cells[3].table!.map((r) => [r.text.match(/crawl|spin|missing/)?.[0], r]),
  );
  assert.equal(rows.crawl?.status, "completed");
  assert.match(rows.crawl.text, /crawl 20 pages.*"Page 1"/);
  assert.equal(rows.spin?.status, "killed");
  assert.equal(rows.missing?.status, "failed");
  assert.equal(cells[3].outputs, 1, "the table is cell 3's only output");
}

async function assertContrast(nb: NotebookPage, theme: string): Promise<void> {
  const readings = await nb.contrast(CONTRAST_TARGETS);
  const lowest = Object.keys(CONTRAST_TARGETS).map((what) => {
    const mine = readings.filter((r) => r.what === what);
    assert.ok(mine.length > 0, `${theme}: no ${what} to measure`);
    return `${what} ${Math.min(...mine.map((r) => r.ratio))}`;
  });
  console.log(`${theme}, lowest contrast: ${lowest.join(", ")}`);
  const low = readings.filter((r) => !(r.ratio >= MIN_CONTRAST));
  assert.deepEqual(low, [], `${theme}: text below ${MIN_CONTRAST}:1`);
}

const missing = await missingBrowserTools();

for (const frontend of Object.values(FRONTENDS)) {
  Deno.test({
    name: `in ${frontend.label} + Chromium: live panel in its own cell, ` +
      `jobs table, kill, readable colours`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      if (missing) throw new Error(missing);
      await using server = await startNotebookServer(frontend);
      await writeNotebook(`${server.dir}/panel.ipynb`, CELLS);
      const browser = await launchChromium();
      try {
        const nb = await NotebookPage.open(browser, server, "panel.ipynb");
        const lab = frontend.name === "lab";
        const shot = (name: string) => async (): Promise<void> => {
          if (lab && DOCS) await nb.screenshot(`${DOCS}${name}`, 0, 1);
        };
        const theme = lab ? "JupyterLab Light" : frontend.label;
        assert.ok(
          await t.step(
            "the panel updates live while another cell runs and after",
            () => runCrawl(nb, shot("panel.png")),
          ),
        );
        assert.ok(
          await t.step(
            "jobs.kill() from a cell ends a panel killed; jobs renders",
            () => killAndTable(nb),
          ),
        );
        await t.step(
          `texts contrast ${MIN_CONTRAST}:1 in ${theme}`,
          () => assertContrast(nb, theme),
        );
        const reopened = (theme: string) => async (): Promise<void> => {
          await writeNotebook(
            `${server.dir}/saved.ipynb`,
            CELLS,
            await nb.bgjobsHtml(),
          );
          const saved = await NotebookPage.open(browser, server, "saved.ipynb");
          try {
            await saved.until(
              "the saved panels",
              (cells) =>
                cells[0]?.panels.length === 1 && cells[3].table
                  ? true
                  : undefined,
            );
            await assertContrast(saved, `${theme}, untrusted`);
          } finally {
            await saved.page.close();
          }
        };
        const untrusted = "reopened untrusted (sanitized), texts contrast " +
          `${MIN_CONTRAST}:1 in`;
        if (!lab) {
          await t.step(`${untrusted} ${theme}`, reopened(theme));
          return;
        }
        await t.step(
          `texts contrast ${MIN_CONTRAST}:1 in JupyterLab Dark`,
          async () => {
            await nb.setTheme("JupyterLab Dark");
            await assertContrast(nb, "JupyterLab Dark");
          },
        );
        await t.step(
          "a running panel in JupyterLab Dark",
          () =>
            runCrawl(nb, async () => {
              await shot("panel_dark.png")();
              await assertContrast(nb, "JupyterLab Dark, mid-run");
            }),
        );
        await t.step(
          `${untrusted} JupyterLab Dark`,
          reopened("JupyterLab Dark"),
        );
      } finally {
        await closeChromium(browser);
      }
    },
  });
}
