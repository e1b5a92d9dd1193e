// Functions that run inside the notebook page: puppeteer's page.evaluate()
// sends their source, so each may use only its arguments and the page's
// globals (plain JavaScript, as the page gets it).

/**
 * What the browser tests read of every cell of the notebook.
 *
 * @param {{ cell: string, output: string, prompt: string }} sel The
 * frontend's selectors for a cell, one output and the input prompt.
 */
export function readCells(sel) {
  const text = (el) => el?.textContent ?? "";
  return [...document.querySelectorAll(sel.cell)].map((cell) => {
    const outputs = [...cell.querySelectorAll(sel.output)];
    const table = cell.querySelector(".bgjobs-table");
    return {
      ran: /\[\d+\]/.test(text(cell.querySelector(sel.prompt))),
      outputs: outputs.length,
      text: outputs.map(text).join("\n"),
      panels: [...cell.querySelectorAll(".bgjobs-panel")].map((panel) => ({
        id: panel.dataset.jobId,
        status: panel.dataset.status,
        name: text(panel.querySelector(".bgjobs-name")),
        percent: panel.querySelector("[data-percent]")?.dataset.percent ??
          null,
        logs: text(panel.querySelector(".bgjobs-logs")),
        text: text(panel),
      })),
      table: table
        ? [...table.querySelectorAll("tbody tr")].map((row) => ({
          id: row.dataset.jobId,
          status: row.querySelector(".bgjobs-status")?.dataset.status,
          text: text(row),
        }))
        : null,
    };
  });
}

/**
 * The contrast ratio (WCAG 2) of every element with text of its own that a
 * selector matches, against what it is painted on: the background colours
 * of it and its ancestors composited, up to the first opaque one (or the
 * white canvas). A translucent text colour is composited too.
 *
 * @param {Record<string, string>} targets What to call the elements → their
 * selector.
 */
export function contrastReadings(targets) {
  const parse = (css) => {
    const m = /^rgba?\(([^)]*)\)$/.exec(css);
    if (!m) return undefined;
    const [r, g, b, a = 1] = m[1].split(/[\s,/]+/).filter(Boolean).map(
      Number,
    );
    return [r, g, b, a];
  };
  const over = (top, below) =>
    [0, 1, 2].map((i) => top[i] * top[3] + below[i] * (1 - top[3])).concat(1);
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const color = parse(getComputedStyle(e).backgroundColor);
      if (color && color[3] > 0) layers.unshift(color);
      if (color && color[3] >= 1) break;
    }
    return layers.reduce((below, top) => over(top, below), [255, 255, 255, 1]);
  };
  const luminance = (color) => {
    const [r, g, b] = color.slice(0, 3).map((v) => {
      const s = v / 255;
      return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const css = (color) => `rgb(${color.slice(0, 3).map(Math.round).join(",")})`;
  const ownText = (el) =>
    [...el.childNodes].some((n) => n.nodeType === 3 && n.data.trim());
  const readings = [];
  for (const [what, selector] of Object.entries(targets)) {
    for (const el of document.querySelectorAll(selector)) {
      if (!ownText(el)) continue;
      const bg = background(el);
      const color = parse(getComputedStyle(el).color);
      const fg = color ? over(color, bg) : [NaN, NaN, NaN, 1];
      const [hi, lo] = [luminance(fg), luminance(bg)].sort((x, y) => y - x);
      readings.push({
        what,
        text: el.textContent.trim().slice(0, 40),
        fg: css(fg),
        bg: css(bg),
        ratio: Math.round((hi + 0.05) / (lo + 0.05) * 100) / 100,
      });
    }
  }
  return readings;
}

/**
 * The page box around cells `from` to `to` (inclusive), 4 px wider on
 * every side.
 *
 * @param {string} cellSelector The frontend's selector for a cell.
 * @param {number} from First cell.
 * @param {number} to Last cell.
 */
export function cellsBox(cellSelector, from, to) {
  const rects = [...document.querySelectorAll(cellSelector)]
    .slice(from, to + 1).map((cell) => cell.getBoundingClientRect());
  const x = Math.min(...rects.map((r) => r.left)) - 4;
  const y = Math.min(...rects.map((r) => r.top)) - 4;
  return {
    x,
    y,
    width: Math.max(...rects.map((r) => r.right)) + 4 - x,
    height: Math.max(...rects.map((r) => r.bottom)) + 4 - y,
  };
}
