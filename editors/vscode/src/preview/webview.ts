// The preview pane's page: draws each cell's latest result as the extension
// sends it (messages.ts). Tables sort by a click on a column's header, JSON
// folds, time series are uPlot charts (hover for values, drag to zoom,
// double-click to reset). Colours come from the editor's theme.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./webview.css";
import {
  CellOutput,
  ChartView,
  TableView,
  TreeNode,
  View,
  cellText,
  formatNumber,
  resultBadges,
  sortRows,
  toView,
} from "./data";
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
const charts = new Map<number, { plot: uPlot; view: ChartView; el: HTMLElement }>();
let selected: number | null = null;

/** Rows a table shows before it says how many more there are. */
const MAX_TABLE_ROWS = 2000;
/** Children a JSON node shows before it says how many more there are. */
const MAX_TREE_CHILDREN = 500;

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
  let view: View;
  try {
    view = toView(result);
  } catch (e) {
    view = { kind: "text", text: result.data, problem: `The preview could not read this result: ${String(e)}` };
  }
  section.dataset.kind = view.kind;
  const body = document.createElement("div");
  body.className = "body";
  section.appendChild(body);
  switch (view.kind) {
    case "table":
      body.appendChild(renderTable(view));
      break;
    case "tree":
      body.appendChild(renderTree(view.root));
      break;
    case "chart":
      renderChart(index, view, body, receivedAt);
      break;
    case "error": {
      const pre = document.createElement("pre");
      pre.className = "error";
      pre.textContent = view.message;
      body.appendChild(pre);
      break;
    }
    case "text": {
      if (view.problem) {
        const p = document.createElement("p");
        p.className = "problem";
        p.textContent = view.problem;
        body.appendChild(p);
      }
      const pre = document.createElement("pre");
      pre.textContent = view.text;
      body.appendChild(pre);
      break;
    }
  }
  if (result.logs && result.logs.length > 0) {
    const details = document.createElement("details");
    details.className = "logs";
    const sum = document.createElement("summary");
    sum.textContent = `${result.logs.length} log ${result.logs.length === 1 ? "line" : "lines"}`;
    details.appendChild(sum);
    const list = document.createElement("ul");
    for (const line of result.logs) {
      const li = document.createElement("li");
      li.className = `log log-${line.level}`;
      const level = document.createElement("span");
      level.className = "level";
      level.textContent = line.level;
      li.append(level, " ", line.message);
      list.appendChild(li);
    }
    details.appendChild(list);
    section.appendChild(details);
  }
}

function badge(text: string, cls: string): HTMLElement {
  const span = document.createElement("span");
  span.className = `badge ${cls}`;
  span.textContent = text;
  return span;
}

// ---------------------------------------------------------------- table

function renderTable(table: TableView): HTMLElement {
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  const el = document.createElement("table");
  const thead = el.createTHead();
  const tbody = el.createTBody();
  const headRow = thead.insertRow();
  // Clicks on a header cycle: ascending, descending, as the plugin gave it.
  let sortColumn: number | null = null;
  let descending = false;
  const fill = () => {
    const rows = sortColumn === null ? table.rows : sortRows(table, sortColumn, descending);
    tbody.replaceChildren();
    for (const row of rows.slice(0, MAX_TABLE_ROWS)) {
      const tr = tbody.insertRow();
      row.forEach((cell, c) => {
        const td = tr.insertCell();
        td.textContent = cellText(cell);
        if (table.numeric[c]) td.className = "num";
      });
    }
    if (rows.length > MAX_TABLE_ROWS) {
      const tr = tbody.insertRow();
      const td = tr.insertCell();
      td.colSpan = table.columns.length;
      td.className = "muted";
      td.textContent = `… ${rows.length - MAX_TABLE_ROWS} more rows`;
    }
    headRow.querySelectorAll("th").forEach((th, c) => {
      th.setAttribute("aria-sort", c === sortColumn ? (descending ? "descending" : "ascending") : "none");
    });
  };
  table.columns.forEach((name, c) => {
    const th = document.createElement("th");
    const button = document.createElement("button");
    button.textContent = name;
    button.title = "Sort by this column";
    th.appendChild(button);
    if (table.numeric[c]) th.className = "num";
    button.addEventListener("click", () => {
      if (sortColumn !== c) {
        sortColumn = c;
        descending = false;
      } else if (!descending) {
        descending = true;
      } else {
        sortColumn = null;
      }
      fill();
    });
    headRow.appendChild(th);
  });
  fill();
  wrap.appendChild(el);
  const count = document.createElement("p");
  count.className = "muted small";
  count.textContent = `${table.rows.length} ${table.rows.length === 1 ? "row" : "rows"}`;
  wrap.appendChild(count);
  return wrap;
}

// ---------------------------------------------------------------- JSON tree

function renderTree(root: TreeNode): HTMLElement {
  const el = document.createElement("div");
  el.className = "tree";
  el.appendChild(renderNode(root, 0));
  return el;
}

function renderNode(node: TreeNode, depth: number): HTMLElement {
  const label = document.createElement("span");
  if (node.key !== null) {
    const key = document.createElement("span");
    key.className = "key";
    key.textContent = node.key;
    label.append(key, ": ");
  }
  const value = document.createElement("span");
  value.className = `value ${node.type}`;
  value.textContent = node.summary;
  label.appendChild(value);
  if (!node.children) {
    const leaf = document.createElement("div");
    leaf.className = "leaf";
    leaf.appendChild(label);
    return leaf;
  }
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.appendChild(label);
  details.appendChild(summary);
  const children = node.children;
  // Children are built when first opened, so a large value costs nothing
  // until it is looked at; the first two levels start open.
  let built = false;
  const build = () => {
    if (built) return;
    built = true;
    const list = document.createElement("div");
    list.className = "children";
    for (const child of children.slice(0, MAX_TREE_CHILDREN)) list.appendChild(renderNode(child, depth + 1));
    if (children.length > MAX_TREE_CHILDREN) {
      const more = document.createElement("div");
      more.className = "muted leaf";
      more.textContent = `… ${children.length - MAX_TREE_CHILDREN} more`;
      list.appendChild(more);
    }
    details.appendChild(list);
  };
  details.addEventListener("toggle", () => {
    if (details.open) build();
  });
  if (depth < 2) {
    build();
    details.open = true;
  }
  return details;
}

// ---------------------------------------------------------------- chart

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

function palette(): string[] {
  return [
    cssVar("--vscode-charts-blue", "#3794ff"),
    cssVar("--vscode-charts-orange", "#d18616"),
    cssVar("--vscode-charts-green", "#89d185"),
    cssVar("--vscode-charts-red", "#f14c4c"),
    cssVar("--vscode-charts-purple", "#b180d7"),
    cssVar("--vscode-charts-yellow", "#cca700"),
    cssVar("--vscode-terminal-ansiCyan", "#11a8cd"),
    cssVar("--vscode-terminal-ansiMagenta", "#bc3fbc"),
  ];
}

function chartSize(el: HTMLElement): { width: number; height: number } {
  const width = Math.max(200, Math.floor(el.clientWidth || cellsEl.clientWidth || 400));
  return { width, height: Math.round(Math.min(320, Math.max(180, width * 0.45))) };
}

function renderChart(index: number, view: ChartView, body: HTMLElement, receivedAt?: number): void {
  if (view.series.length === 0 || view.data[0].length === 0) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = view.series.length === 0 ? "No series." : "No data in any series.";
    body.appendChild(p);
    return;
  }
  const el = document.createElement("div");
  el.className = "chart";
  body.appendChild(el);
  const fg = cssVar("--vscode-editor-foreground", "#888");
  const grid = cssVar("--vscode-editorIndentGuide-background1", cssVar("--vscode-editorIndentGuide-background", "rgba(128,128,128,0.25)"));
  const font = `11px ${cssVar("--vscode-font-family", "sans-serif")}`;
  const colours = palette();
  const axis: uPlot.Axis = { stroke: fg, font, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  const opts: uPlot.Options = {
    ...chartSize(body),
    scales: { x: { time: true } },
    series: [
      { label: "time" },
      ...view.series.map((s, i) => ({
        label: s.label,
        stroke: colours[i % colours.length],
        width: 1.5,
        spanGaps: false,
        value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? "–" : formatNumber(v)),
      })),
    ],
    axes: [{ ...axis }, { ...axis, values: (_u, ticks) => ticks.map((t) => formatNumber(t)) }],
    cursor: { drag: { x: true, y: false, setScale: true } },
    legend: { live: true },
    hooks: {
      draw: [
        () => {
          // Marks for the end-to-end test and its timings: how many times
          // this chart was drawn, when, and when its data reached the extension.
          el.dataset.draws = String(Number(el.dataset.draws ?? "0") + 1);
          el.dataset.drawnAt = String(Date.now());
          if (receivedAt !== undefined) el.dataset.receivedAt = String(receivedAt);
        },
      ],
      setScale: [
        (u: uPlot, key: string) => {
          // The shown time range, for the end-to-end test of zooming.
          if (key !== "x") return;
          el.dataset.xMin = String(u.scales.x.min);
          el.dataset.xMax = String(u.scales.x.max);
        },
      ],
    },
  };
  const plot = new uPlot(opts, view.data as uPlot.AlignedData, el);
  charts.set(index, { plot, view, el });
  const stats = document.createElement("p");
  stats.className = "muted small";
  stats.textContent =
    `${view.series.length} ${view.series.length === 1 ? "series" : "series"}, ${view.points} points. ` +
    "Drag to zoom, double-click to reset.";
  body.appendChild(stats);
}

// Charts follow the pane's width, and are drawn again in the new colours
// when the theme changes (VS Code sets the body's class).
new ResizeObserver(() => {
  for (const { plot, el } of charts.values()) {
    const body = el.parentElement;
    if (body) plot.setSize(chartSize(body));
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
