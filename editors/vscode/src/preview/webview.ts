// The preview pane's page: draws each cell's latest result as the extension
// sends it (messages.ts), with draw.ts (shared with the exported page).
// Colours come from the editor's theme.
import "uplot/dist/uPlot.min.css";
import "./webview.css";
import { CellOutput, resultBadges } from "./data";
import { DrawnChart, badge, chartSize, drawLogs, drawView, viewOf } from "./draw";
import type { CellSummary, FromWebview, ToWebview } from "./messages";

declare function acquireVsCodeApi(): {
  postMessage(message: FromWebview): void;
  setState(state: unknown): void;
  getState(): unknown;
};

const vscode = acquireVsCodeApi();

const titleEl = document.getElementById("title")!;
const statusEl = document.getElementById("status")!;
const cellsEl = document.getElementById("cells")!;

let cells: CellSummary[] = [];
const results = new Map<number, CellOutput>();
const charts = new Map<number, DrawnChart>();
let selected: number | null = null;

window.addEventListener("message", (event: MessageEvent<ToWebview>) => {
  const m = event.data;
  switch (m.type) {
    case "reset":
      vscode.setState({ uri: m.uri });
      titleEl.textContent = m.title;
      statusEl.textContent = "";
      cells = m.cells;
      results.clear();
      for (const r of m.results) results.set(r.cell, r);
      renderAll();
      break;
    case "output":
      statusEl.textContent = "";
      results.set(m.output.cell, m.output);
      if (!cells.some((c) => c.index === m.output.cell)) {
        cells.push({ index: m.output.cell, name: m.output.name ?? null, plugin: null, header: "" });
        cells.sort((a, b) => a.index - b.index);
        renderAll();
      } else {
        renderCell(m.output.cell, m.receivedAt);
      }
      break;
    case "select":
      select(m.cell);
      break;
    case "status":
      statusEl.textContent = m.message;
      break;
  }
});

function renderAll(): void {
  for (const c of charts.values()) c.plot.destroy();
  charts.clear();
  cellsEl.replaceChildren();
  if (cells.length === 0) {
    statusEl.textContent = "This notebook has no cells yet.";
    return;
  }
  for (const c of cells) {
    const section = document.createElement("section");
    section.className = "cell";
    section.id = `cell-${c.index}`;
    section.dataset.cell = String(c.index);
    cellsEl.appendChild(section);
    renderCell(c.index);
  }
  if (selected !== null) select(selected, false);
}

function renderCell(index: number, receivedAt?: number): void {
  const section = document.getElementById(`cell-${index}`);
  if (!section) return;
  const old = charts.get(index);
  if (old) {
    old.plot.destroy();
    charts.delete(index);
  }
  const summary = cells.find((c) => c.index === index);
  const result = results.get(index);
  section.replaceChildren();
  section.classList.toggle("selected", selected === index);

  const head = document.createElement("h2");
  const link = document.createElement("a");
  link.href = "#";
  link.title = "Show this cell in the editor";
  link.textContent = summary?.name ?? result?.name ?? (summary?.plugin ? `${summary.plugin} (cell ${index + 1})` : `cell ${index + 1}`);
  link.addEventListener("click", (e) => {
    e.preventDefault();
    vscode.postMessage({ type: "reveal", cell: index });
  });
  head.appendChild(link);
  if (summary?.plugin) head.appendChild(badge(`@${summary.plugin}`, "plugin"));
  if (result) {
    for (const b of resultBadges(result)) {
      const el = badge(b.text, b.cls);
      if (b.title) el.title = b.title;
      head.appendChild(el);
    }
  }
  section.appendChild(head);

  if (!result) {
    section.dataset.kind = "none";
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = "Not run yet.";
    section.appendChild(p);
    return;
  }
  const view = viewOf(result);
  section.dataset.kind = view.kind;
  const body = document.createElement("div");
  body.className = "body";
  section.appendChild(body);
  const chart = drawView(view, body, { fallbackWidth: () => cellsEl.clientWidth, receivedAt });
  if (chart) charts.set(index, chart);
  if (result.logs && result.logs.length > 0) section.appendChild(drawLogs(result.logs));
}

// Charts follow the pane's width, and are drawn again in the new colours
// when the theme changes (VS Code sets the body's class).
new ResizeObserver(() => {
  for (const { plot, el } of charts.values()) {
    const body = el.parentElement;
    if (body) plot.setSize(chartSize(body, () => cellsEl.clientWidth));
  }
}).observe(cellsEl);

new MutationObserver(() => {
  for (const index of [...charts.keys()]) renderCell(index);
}).observe(document.body, { attributes: true, attributeFilter: ["class"] });

// ---------------------------------------------------------------- cursor

function select(index: number | null, scroll = true): void {
  selected = index;
  for (const s of cellsEl.querySelectorAll<HTMLElement>("section.cell")) {
    s.classList.toggle("selected", s.dataset.cell === String(index));
  }
  if (index === null || !scroll) return;
  const el = document.getElementById(`cell-${index}`);
  el?.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

// Anything the Content Security Policy blocks is a bug in this page: it is
// counted on the body (the end-to-end test reads it) and logged by the
// extension in the Databook output.
let violations = 0;
document.addEventListener("securitypolicyviolation", (e) => {
  violations++;
  document.body.dataset.cspViolations = String(violations);
  vscode.postMessage({ type: "cspViolation", directive: e.violatedDirective, blocked: e.blockedURI || "inline" });
});
document.body.dataset.cspViolations = "0";

// A restored pane (after a window reload) has no content until the
// extension answers this.
vscode.postMessage({ type: "ready" });
