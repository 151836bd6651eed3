// The script of the page `databook export` writes: draws each cell's latest
// full result, embedded in the page as JSON (a `<script
// type="application/json" id="databook-results">`), with the preview's own
// drawing code, so that a result looks as it does in VS Code. Everything it
// needs is in the page: the server inlines this bundle and its style sheet
// (server/assets/export.js and export.css, built by `npm run build:export`).
import "uplot/dist/uPlot.min.css";
import "../preview/webview.css";
import "./page.css";
import { CellOutput, LogLine, checkOutput, resultBadges } from "../preview/data";
import { DrawnChart, badge, chartSize, drawLogs, drawView, viewOf } from "../preview/draw";

/** A cell's result as the server embeds it (server/src/export.rs). */
interface Embedded {
  cell: number;
  name?: string | null;
  status: string;
  mime: string;
  data: string;
  hint?: string | null;
  elapsedMs?: number;
  logs?: LogLine[];
  environment?: string | null;
  cached?: boolean;
  /** When the run ended, in milliseconds since the Unix epoch (0: unknown). */
  atMs?: number;
}

const charts: DrawnChart[] = [];
const main = document.querySelector("main") ?? document.body;
const pageWidth = () => main.clientWidth;

function embedded(): Embedded[] {
  const el = document.getElementById("databook-results");
  if (!el) return [];
  try {
    const value = JSON.parse(el.textContent ?? "") as { results?: unknown };
    return Array.isArray(value.results) ? (value.results as Embedded[]) : [];
  } catch (e) {
    document.body.dataset.problem = `The page's results cannot be read: ${String(e)}`;
    return [];
  }
}

/** Draws one result in place of the text its cell's placeholder holds. */
function drawResult(result: Embedded): boolean {
  const output: CellOutput = { ...result, uri: "" };
  if (checkOutput(output) !== null) return false;
  const section = document.getElementById(`cell-${result.cell}`);
  const place = section?.querySelector<HTMLElement>(".result");
  if (!section || !place) return false;
  const head = section.querySelector(".cell-head");
  if (head) {
    for (const b of resultBadges(output)) {
      const el = badge(b.text, b.cls);
      if (b.title) el.title = b.title;
      head.appendChild(el);
    }
    if (typeof result.atMs === "number" && result.atMs > 0) {
      // UTC, so that the page reads the same wherever it is opened.
      const at = new Date(result.atMs).toISOString().slice(0, 16).replace("T", " ");
      const el = badge(`ran ${at} UTC`, "ran");
      el.title = "When this result was produced";
      head.appendChild(el);
    }
  }
  const view = viewOf(output);
  section.dataset.kind = view.kind;
  const body = document.createElement("div");
  body.className = "body";
  place.replaceChildren(body);
  const chart = drawView(view, body, { fallbackWidth: pageWidth });
  if (chart) charts.push(chart);
  if (result.status === "error" && result.hint) {
    const p = document.createElement("p");
    p.className = "muted small hint";
    p.textContent = result.hint;
    place.appendChild(p);
  }
  if (result.logs && result.logs.length > 0) place.appendChild(drawLogs(result.logs));
  return true;
}

let drawn = 0;
for (const result of embedded()) {
  try {
    if (drawResult(result)) drawn++;
  } catch (e) {
    // One result that cannot be drawn leaves its text in place; the others
    // are still drawn.
    document.body.dataset.problem = `A result could not be drawn: ${String(e)}`;
  }
}
// Marks for the browser test: how many results were drawn, and that the
// script ran to the end.
document.body.dataset.drawn = String(drawn);
document.body.dataset.ready = "true";

new ResizeObserver(() => {
  for (const { plot, el } of charts) {
    const body = el.parentElement;
    if (body) plot.setSize(chartSize(body, pageWidth));
  }
}).observe(main);
