/**
 * Real-browser test harness, page side: a notebook open in Chromium, driven
 * through the frontend's own JavaScript API (classic Notebook's
 * `Jupyter.notebook`, JupyterLab's and Notebook 7's `window.jupyterapp`
 * commands) and read from its DOM, the same way in every frontend.
 *
 * @module
 */
import type { Browser, Page } from "npm:puppeteer-core@24.43.1";
import type { Frontend, NotebookServer } from "./_browser.ts";
import { cellsBox, contrastReadings, readCells } from "./_page.js";

/** A job's panel as the page shows it. */
export interface PanelView {
  id: string;
  status: string;
  name: string;
  percent: string | null;
  logs: string;
  text: string;
}

/** A row of a `jobs` table. */
export interface RowView {
  id: string;
  status: string;
  text: string;
}

/** One cell as the page shows it. */
export interface CellView {
  /** Its prompt shows an execution count. */
  ran: boolean;
  /** How many outputs it has. */
  outputs: number;
  /** Its outputs' text. */
  text: string;
  panels: PanelView[];
  /** The rows of a `jobs` table in it, or `null`. */
  table: RowView[] | null;
}

/** One text's contrast against its background. */
export interface ContrastReading {
  what: string;
  text: string;
  fg: string;
  bg: string;
  ratio: number;
}

interface Selectors {
  cell: string;
  output: string;
  prompt: string;
}

const CLASSIC = {
  selectors: {
    cell: "#notebook-container .cell",
    output: ".output_area",
    prompt: ".input_prompt",
  },
  ready:
    "window.Jupyter?.notebook?._fully_loaded && Jupyter.notebook.kernel?.is_connected()",
  run: (i: number) => `Jupyter.notebook.get_cell(${i}).execute()`,
  select: (i: number) => `Jupyter.notebook.select(${i})`,
};

// The notebook widget of JupyterLab and Notebook 7.
const NOTEBOOK = "jupyterapp.shell.currentWidget";
const LAB = {
  selectors: {
    cell: ".jp-Notebook .jp-Cell",
    output: ".jp-OutputArea-child",
    prompt: ".jp-InputPrompt",
  },
  ready: `window.jupyterapp && ${NOTEBOOK}?.content?.widgets?.length > 0 && ` +
    `${NOTEBOOK}.sessionContext?.session?.kernel?.connectionStatus === "connected"`,
  // Select the cell and run it, not waiting for it to finish.
  run: (i: number) =>
    `${NOTEBOOK}.content.activeCellIndex = ${i};` +
    `void jupyterapp.commands.execute("notebook:run-cell")`,
  select: (i: number) => `${NOTEBOOK}.content.activeCellIndex = ${i}`,
};

/** A notebook open in the browser. */
export class NotebookPage {
  readonly page: Page;
  readonly frontend: Frontend;
  readonly #driver: typeof CLASSIC;

  private constructor(page: Page, frontend: Frontend) {
    this.page = page;
    this.frontend = frontend;
    this.#driver = frontend.labBased ? LAB : CLASSIC;
  }

  /**
   * Opens a notebook of the server's directory in a new tab and waits for
   * its kernel.
   */
  static async open(
    browser: Browser,
    server: NotebookServer,
    file: string,
  ): Promise<NotebookPage> {
    const page = await browser.newPage();
    const notebook = new NotebookPage(page, server.frontend);
    await page.goto(server.notebookUrl(file), {
      waitUntil: "domcontentloaded",
    });
    await page.waitForFunction(notebook.#driver.ready, { timeout: 60_000 })
      .catch((error) => {
        throw new Error(`kernel did not connect\n${server.log()}`, {
          cause: error,
        });
      });
    // JupyterLab's file browser would take a third of the width.
    if (server.frontend.labBased) {
      await page.evaluate("jupyterapp.shell.collapseLeft?.()");
    }
    return notebook;
  }

  /** Runs a cell (0-based), not waiting for it to finish. */
  async run(index: number): Promise<void> {
    await this.page.evaluate(this.#driver.run(index));
  }

  /** Every cell as the page shows it now. */
  async cells(): Promise<CellView[]> {
    return await this.page.evaluate(
      readCells as (sel: Selectors) => CellView[],
      this.#driver.selectors,
    );
  }

  /**
   * Reads the cells every 150 ms until `found` returns something.
   *
   * @param what What is awaited, for the error.
   * @param found Returns the awaited thing, or `undefined`.
   * @param ms How long to wait.
   * @returns What `found` returned.
   */
  async until<T>(
    what: string,
    found: (cells: CellView[]) => T | undefined,
    ms = 30_000,
  ): Promise<T> {
    const end = Date.now() + ms;
    let cells: CellView[] = [];
    while (Date.now() < end) {
      cells = await this.cells();
      const value = found(cells);
      if (value !== undefined) return value;
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error(
      `${what}: not seen in ${ms} ms; cells: ${JSON.stringify(cells)}`,
    );
  }

  /** The HTML of every panel and `jobs` table, as each cell shows them. */
  async bgjobsHtml(): Promise<string[][]> {
    return await this.page.evaluate(
      `[...document.querySelectorAll(${
        JSON.stringify(this.#driver.selectors.cell)
      })].map((cell) => [...cell.querySelectorAll(".bgjobs-panel, " +
        ".bgjobs-table")].map((el) => el.outerHTML))`,
    ) as string[][];
  }

  /**
   * The contrast of every text the selectors match.
   *
   * @param targets What to call the texts → their selector.
   */
  async contrast(targets: Record<string, string>): Promise<ContrastReading[]> {
    return await this.page.evaluate(
      contrastReadings as (t: Record<string, string>) => ContrastReading[],
      targets,
    );
  }

  /**
   * Switches a JupyterLab-based frontend's theme and waits until its colours
   * are applied.
   *
   * @param theme E.g. `JupyterLab Dark`.
   */
  async setTheme(theme: string): Promise<void> {
    const bodyColor = "getComputedStyle(document.body)" +
      '.getPropertyValue("--jp-layout-color0").trim()';
    const before = await this.page.evaluate(bodyColor);
    await this.page.evaluate(
      `jupyterapp.commands.execute("apputils:change-theme", ${
        JSON.stringify({ theme })
      })`,
    );
    // The splash screen JupyterLab shows while it loads the theme's CSS
    // covers the page.
    await this.page.waitForFunction(
      `document.body.dataset.jpThemeName === ${JSON.stringify(theme)} && ` +
        `${bodyColor} !== ${JSON.stringify(before)} && ` +
        `!document.querySelector("#jupyterlab-splash")`,
      { timeout: 20_000 },
    );
  }

  /**
   * Saves a PNG of cells `from` to `to` (inclusive), cropped to them, with a
   * cell after them selected (so no selection shows). A panel that grows
   * while the picture is taken is taken again.
   *
   * @param path Where.
   * @param from First cell.
   * @param to Last cell.
   */
  async screenshot(path: string, from: number, to: number): Promise<void> {
    await this.page.evaluate(this.#driver.select(to + 1));
    const box = (): Promise<Box> =>
      this.page.evaluate(
        cellsBox as (sel: string, from: number, to: number) => Box,
        this.#driver.selectors.cell,
        from,
        to,
      );
    for (let attempt = 0; attempt < 5; attempt++) {
      const clip = await box();
      await this.page.screenshot({ path, clip });
      if (JSON.stringify(await box()) === JSON.stringify(clip)) return;
    }
  }
}

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}
