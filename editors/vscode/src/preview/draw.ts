// Drawing a cell's result with the DOM: tables that sort by a click on a
// column's header, JSON trees that fold, uPlot charts (hover for values,
// drag to zoom, double-click to reset), logs and badges. Shared by the
// preview pane (webview.ts) and the exported page (../export/page.ts), so
// that a result looks the same in both. Text goes in through textContent
// only: results come from plugins and are never trusted as markup. Colours
// come from VS Code's CSS variables, which the exported page defines itself.
import uPlot from "uplot";
import {
  CellOutput,
  ChartView,
  LogLine,
  TableView,
  TreeNode,
  View,
  cellText,
  formatNumber,
  sortRows,
  toView,
} from "./data";

/** Rows a table shows before it says how many more there are. */
const MAX_TABLE_ROWS = 2000;
/** Children a JSON node shows before it says how many more there are. */
const MAX_TREE_CHILDREN = 500;

/** A chart that was drawn, for resizing and redrawing it later. */
export interface DrawnChart {
  plot: uPlot;
  view: ChartView;
  el: HTMLElement;
}

/** What drawing a chart needs from the page around it. */
export interface ChartContext {
  /** The width to use when the chart's own container has none yet. */
  fallbackWidth: () => number;
  /** When the result reached the page, marked on the chart for the tests. */
  receivedAt?: number;
}

/** A result as a view; one that cannot be read is shown as text, saying why. */
export function viewOf(result: CellOutput): View {
  try {
    return toView(result);
  } catch (e) {
    return { kind: "text", text: result.data, problem: `The preview could not read this result: ${String(e)}` };
  }
}

/**
 * Draws `view` into `body`; returns the chart when one was drawn, so that
 * the caller can resize or destroy it.
 */
export function drawView(view: View, body: HTMLElement, context: ChartContext): DrawnChart | null {
  switch (view.kind) {
    case "table":
      body.appendChild(drawTable(view));
      return null;
    case "tree":
      body.appendChild(drawTree(view.root));
      return null;
    case "chart":
      return drawChart(view, body, context);
    case "error": {
      const pre = document.createElement("pre");
      pre.className = "error";
      pre.textContent = view.message;
      body.appendChild(pre);
      return null;
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
      return null;
    }
  }
}

/** A run's log lines, folded under a count. */
export function drawLogs(logs: LogLine[]): HTMLElement {
  const details = document.createElement("details");
  details.className = "logs";
  const sum = document.createElement("summary");
  sum.textContent = `${logs.length} log ${logs.length === 1 ? "line" : "lines"}`;
  details.appendChild(sum);
  const list = document.createElement("ul");
  for (const line of logs) {
    const li = document.createElement("li");
    li.className = `log log-${line.level}`;
    const level = document.createElement("span");
    level.className = "level";
    level.textContent = line.level;
    li.append(level, " ", line.message);
    list.appendChild(li);
  }
  details.appendChild(list);
  return details;
}

export function badge(text: string, cls: string): HTMLElement {
  const span = document.createElement("span");
  span.className = `badge ${cls}`;
  span.textContent = text;
  return span;
}

// ---------------------------------------------------------------- table

export function drawTable(table: TableView): HTMLElement {
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

export function drawTree(root: TreeNode): HTMLElement {
  const el = document.createElement("div");
  el.className = "tree";
  el.appendChild(drawNode(root, 0));
  return el;
}

function drawNode(node: TreeNode, depth: number): HTMLElement {
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
    for (const child of children.slice(0, MAX_TREE_CHILDREN)) list.appendChild(drawNode(child, depth + 1));
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

/** A chart's size for the width of `el` (or the page's, before `el` has one). */
export function chartSize(el: HTMLElement, fallbackWidth: () => number): { width: number; height: number } {
  const width = Math.max(200, Math.floor(el.clientWidth || fallbackWidth() || 400));
  return { width, height: Math.round(Math.min(320, Math.max(180, width * 0.45))) };
}

export function drawChart(view: ChartView, body: HTMLElement, context: ChartContext): DrawnChart | null {
  if (view.series.length === 0 || view.data[0].length === 0) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = view.series.length === 0 ? "No series." : "No data in any series.";
    body.appendChild(p);
    return null;
  }
  const { receivedAt } = context;
  const el = document.createElement("div");
  el.className = "chart";
  body.appendChild(el);
  const fg = cssVar("--vscode-editor-foreground", "#888");
  const grid = cssVar("--vscode-editorIndentGuide-background1", cssVar("--vscode-editorIndentGuide-background", "rgba(128,128,128,0.25)"));
  const font = `11px ${cssVar("--vscode-font-family", "sans-serif")}`;
  const colours = palette();
  const axis: uPlot.Axis = { stroke: fg, font, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  const opts: uPlot.Options = {
    ...chartSize(body, context.fallbackWidth),
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
          // Marks for the end-to-end tests and their timings: how many times
          // this chart was drawn, when, and when its data reached the page.
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
  const stats = document.createElement("p");
  stats.className = "muted small";
  stats.textContent =
    `${view.series.length} ${view.series.length === 1 ? "series" : "series"}, ${view.points} points. ` +
    "Drag to zoom, double-click to reset.";
  body.appendChild(stats);
  return { plot, view, el };
}
