// The preview's data handling: a cell's full result, as the server sends it
// in `databook/output` and `databook/results`, turned into what the webview
// draws (a table, a JSON tree, chart data, text or an error). Kept free of
// any `vscode` import and of the DOM so that `npm test` can run it in Node.

/** A cell's result, as in docs/lsp-extensions.md (`databook/output`). */
export interface CellOutput {
  uri: string;
  cell: number;
  name?: string | null;
  status: string;
  mime: string;
  data: string;
  elapsedMs?: number;
  logs?: LogLine[];
  /** The environment the run had; null or absent when none was current. */
  environment?: string | null;
  /** Whether the result was reused (the cell's `cache=`) rather than run. */
  cached?: boolean;
}

export interface Badge {
  text: string;
  /** The badge's classes, for the style sheet and the tests. */
  cls: string;
  title?: string;
}

/** What a result's heading says after the cell's name: status, type, time, environment, cached. */
export function resultBadges(result: CellOutput): Badge[] {
  const badges: Badge[] = [
    { text: result.status, cls: `status status-${result.status}` },
    { text: result.mime, cls: "mime" },
  ];
  if (typeof result.elapsedMs === "number") badges.push({ text: `${result.elapsedMs} ms`, cls: "elapsed" });
  if (typeof result.environment === "string" && result.environment !== "") {
    badges.push({ text: `env ${result.environment}`, cls: "environment", title: `Ran in the environment ${result.environment}` });
  }
  if (result.cached === true) {
    badges.push({ text: "cached", cls: "cached", title: "Reused from the cell's cache= rather than run" });
  }
  return badges;
}

export interface LogLine {
  level: string;
  message: string;
}

export type Cell = string | number | boolean | null;

export interface TableView {
  kind: "table";
  columns: string[];
  rows: Cell[][];
  /** Per column: true when every non-empty cell reads as a number. */
  numeric: boolean[];
}

export interface TreeNode {
  /** The key in its parent object, or the index in its parent array. */
  key: string | null;
  type: "object" | "array" | "string" | "number" | "boolean" | "null";
  /** The value as shown on one line: `"text"`, `42`, `{3 keys}`, `[2 items]`. */
  summary: string;
  children?: TreeNode[];
}

export interface TreeView {
  kind: "tree";
  root: TreeNode;
}

export interface ChartSeries {
  /** `{key="value",...}`, written as the file's rendering writes it. */
  label: string;
  min: number | null;
  max: number | null;
  last: number | null;
}

export interface ChartView {
  kind: "chart";
  series: ChartSeries[];
  /**
   * uPlot's aligned data: the first array holds every time (Unix seconds,
   * ascending, each once), each following array one series' values at those
   * times, `null` where the series has no value (a gap or no point).
   */
  data: [number[], ...(number | null)[][]];
  points: number;
}

export interface TextView {
  kind: "text";
  text: string;
  /** Why the data is shown as text when its type promised more. */
  problem?: string;
}

export interface ErrorView {
  kind: "error";
  message: string;
}

export type View = TableView | TreeView | ChartView | TextView | ErrorView;

export const TABLE_MIME = "application/vnd.databook.table+json";
export const TIMESERIES_MIME = "application/vnd.databook.timeseries+json";

/** The MIME type without parameters (`; charset=utf-8`), in lower case. */
export function baseMime(mime: string): string {
  return mime.split(";")[0].trim().toLowerCase();
}

/** A readable error for a value that is not what was expected. */
class ShapeError extends Error {}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return `the string ${JSON.stringify(truncate(value, 40))}`;
  return `${typeof value} ${String(value)}`;
}

function truncate(s: string, n: number): string {
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

/**
 * Parses JSON, turning a syntax error into a message that says where:
 * `The data is not valid JSON (line 2, column 5): unexpected "}".`
 */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // The engine's own messages differ between versions and often name no
    // position, so the place and reason come from a scan of our own.
    const { offset, reason } = jsonError(text);
    const before = text.slice(0, offset);
    const line = before.split("\n").length;
    const column = offset - before.lastIndexOf("\n");
    throw new ShapeError(`The data is not valid JSON (line ${line}, column ${column}): ${reason}.`);
  }
}

/** Where a text that JSON.parse refused first goes wrong, and why. */
export function jsonError(text: string): { offset: number; reason: string } {
  let i = 0;
  const fail = (reason: string): never => {
    throw { offset: i, reason };
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const found = () => (i >= text.length ? "the end of the data" : `unexpected ${JSON.stringify(text[i])}`);
  const value = (depth: number): void => {
    if (depth > 1000) fail("nested too deeply");
    ws();
    const ch = text[i];
    if (ch === "{") {
      i++;
      ws();
      if (text[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`${found()} where a key in quotes was expected`);
        string();
        ws();
        if (text[i] !== ":") fail(`${found()} where ":" was expected`);
        i++;
        value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return;
        }
        fail(`${found()} where "," or "}" was expected`);
      }
    } else if (ch === "[") {
      i++;
      ws();
      if (text[i] === "]") {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return;
        }
        fail(`${found()} where "," or "]" was expected`);
      }
    } else if (ch === '"') {
      string();
    } else {
      const m = /^(-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?|true|false|null)/.exec(text.slice(i, i + 400));
      if (!m) fail(`${found()} where a value was expected`);
      i += m![0].length;
    }
  };
  const string = () => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\") {
        i++;
        if (text[i] === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail("a bad \\u escape in a string");
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? "")) {
          fail("a bad escape in a string");
        }
      } else if (text.charCodeAt(i) < 0x20) {
        fail("a control character inside a string");
      }
      i++;
    }
    if (i >= text.length) fail("a string that is never closed");
    i++;
  };
  try {
    value(0);
    ws();
    if (i < text.length) fail(`${found()} after the end of the value`);
  } catch (e) {
    if (e && typeof e === "object" && "offset" in e) return e as { offset: number; reason: string };
    throw e;
  }
  return { offset: 0, reason: "the engine refused it" };
}

/** Turns a cell's result into what the preview draws. Never throws. */
export function toView(output: CellOutput): View {
  if (output.status === "error") {
    return { kind: "error", message: output.data };
  }
  const mime = baseMime(output.mime);
  try {
    if (mime === TABLE_MIME) return tableFromJson(parseJson(output.data));
    if (mime === TIMESERIES_MIME) return chartFromJson(parseJson(output.data));
    if (mime === "text/csv") return tableFromCsv(output.data);
    if (mime === "application/json" || mime.endsWith("+json")) {
      return { kind: "tree", root: toTree(parseJson(output.data), null) };
    }
  } catch (e) {
    if (e instanceof ShapeError) {
      return { kind: "text", text: output.data, problem: `${e.message} Shown as text.` };
    }
    throw e;
  }
  return { kind: "text", text: output.data };
}

// ---------------------------------------------------------------- tables

const NUMBER_RE = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$/;

/** A cell reads as a number: a JSON number, or a string such as "42" or "1e3". */
export function isNumeric(cell: Cell): boolean {
  if (typeof cell === "number") return Number.isFinite(cell);
  if (typeof cell === "string") return NUMBER_RE.test(cell.trim());
  return false;
}

/** The table of an `application/vnd.databook.table+json` value. */
export function tableFromJson(value: unknown): TableView {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ShapeError(`A table must be an object with "columns" and "rows", not ${describe(value)}.`);
  }
  const obj = value as Record<string, unknown>;
  if (!("columns" in obj)) {
    throw new ShapeError(`A table needs a "columns" list; this one has none.`);
  }
  const columns = obj.columns;
  if (!Array.isArray(columns)) {
    throw new ShapeError(`A table's "columns" must be a list of strings, not ${describe(columns)}.`);
  }
  columns.forEach((c, i) => {
    if (typeof c !== "string") {
      throw new ShapeError(`Column ${i + 1} must be a string, not ${describe(c)}.`);
    }
  });
  const rawRows = obj.rows === undefined ? [] : obj.rows;
  if (!Array.isArray(rawRows)) {
    throw new ShapeError(`A table's "rows" must be a list of rows, not ${describe(rawRows)}.`);
  }
  const rows: Cell[][] = rawRows.map((row, r) => {
    if (!Array.isArray(row)) {
      throw new ShapeError(`Row ${r + 1} must be a list of cells, not ${describe(row)}.`);
    }
    return row.map((cell, c) => {
      if (cell === null || typeof cell === "string" || typeof cell === "number" || typeof cell === "boolean") {
        return cell;
      }
      throw new ShapeError(
        `Row ${r + 1}, column ${c + 1}: a cell must be a string, a number, a boolean or null, not ${describe(cell)}.`,
      );
    });
  });
  return makeTable(columns as string[], rows);
}

function makeTable(header: string[], rows: Cell[][]): TableView {
  // A row longer than the header shows its extra cells under empty headers,
  // and a shorter one is padded with empty cells, as the file's rendering does.
  const width = Math.max(header.length, ...rows.map((r) => r.length));
  const columns = header.concat(Array(width - header.length).fill(""));
  const padded = rows.map((r) => (r.length < width ? r.concat(Array(width - r.length).fill(null)) : r));
  const numeric = columns.map((_, c) => {
    let any = false;
    for (const row of padded) {
      const cell = row[c];
      if (cell === null || cell === "") continue;
      if (!isNumeric(cell)) return false;
      any = true;
    }
    return any;
  });
  return { kind: "table", columns, rows: padded, numeric };
}

/** A CSV text (RFC 4180 quoting) as a table whose first row is the header. */
export function tableFromCsv(text: string): TableView {
  const records: string[][] = [];
  let record: string[] = [];
  let field = "";
  let quoted = false;
  let i = 0;
  let line = 1;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        if (ch === "\n") line++;
        field += ch;
      }
      i++;
      continue;
    }
    if (ch === '"' && field === "") {
      quoted = true;
    } else if (ch === ",") {
      record.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      record.push(field);
      records.push(record);
      record = [];
      field = "";
      if (ch === "\r" && text[i + 1] === "\n") i++;
      line++;
    } else {
      field += ch;
    }
    i++;
  }
  if (quoted) {
    throw new ShapeError(`The CSV has a quote opened on line ${line} that is never closed.`);
  }
  if (field !== "" || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  if (records.length === 0) {
    throw new ShapeError("The CSV is empty: it has no header row.");
  }
  const [header, ...rows] = records;
  return makeTable(header, rows);
}

/** How a column's cells compare: numbers by value, others as text; empty cells last. */
export function compareCells(a: Cell, b: Cell, numeric: boolean): number {
  const emptyA = a === null || a === "";
  const emptyB = b === null || b === "";
  if (emptyA || emptyB) return emptyA === emptyB ? 0 : emptyA ? 1 : -1;
  if (numeric) return Number(a) - Number(b);
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

/**
 * The table's rows sorted by one column (a stable sort, so equal cells keep
 * their order); empty cells stay last in both directions.
 */
export function sortRows(table: TableView, column: number, descending: boolean): Cell[][] {
  const numeric = table.numeric[column] ?? false;
  const indexed = table.rows.map((row, i) => ({ row, i }));
  indexed.sort((x, y) => {
    const a = x.row[column];
    const b = y.row[column];
    const emptyA = a === null || a === "";
    const emptyB = b === null || b === "";
    if (emptyA || emptyB) return emptyA === emptyB ? x.i - y.i : emptyA ? 1 : -1;
    const c = compareCells(a, b, numeric);
    return (descending ? -c : c) || x.i - y.i;
  });
  return indexed.map((x) => x.row);
}

/** A cell as the table shows it: `null` empty, booleans as `true`/`false`. */
export function cellText(cell: Cell): string {
  if (cell === null) return "";
  return String(cell);
}

// ---------------------------------------------------------------- JSON tree

/** A JSON value as a tree, objects' keys in their given order. */
export function toTree(value: unknown, key: string | null): TreeNode {
  if (Array.isArray(value)) {
    return {
      key,
      type: "array",
      summary: `[${value.length} ${value.length === 1 ? "item" : "items"}]`,
      children: value.map((v, i) => toTree(v, String(i))),
    };
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    return {
      key,
      type: "object",
      summary: `{${entries.length} ${entries.length === 1 ? "key" : "keys"}}`,
      children: entries.map(([k, v]) => toTree(v, k)),
    };
  }
  if (value === null) return { key, type: "null", summary: "null" };
  if (typeof value === "string") return { key, type: "string", summary: JSON.stringify(value) };
  if (typeof value === "number") return { key, type: "number", summary: String(value) };
  if (typeof value === "boolean") return { key, type: "boolean", summary: String(value) };
  throw new ShapeError(`Unexpected JSON value ${describe(value)}.`);
}

// ---------------------------------------------------------------- time series

const LABEL_KEY_RE = /^[A-Za-z0-9_.-]+$/;

/** Labels as the file writes them: `{handler="/api",job="a"}`, keys sorted. */
export function formatLabels(labels: Record<string, string> | undefined): string {
  if (!labels) return "{}";
  const keys = Object.keys(labels).sort();
  const parts = keys.map((k) => `${LABEL_KEY_RE.test(k) ? k : JSON.stringify(k)}=${JSON.stringify(labels[k])}`);
  return `{${parts.join(",")}}`;
}

function parseTime(t: unknown, where: string): number {
  if (typeof t === "number" && Number.isFinite(t)) return t;
  if (typeof t === "string" && NUMBER_RE.test(t)) return Number(t);
  throw new ShapeError(`${where}: the time must be a number of Unix seconds, not ${describe(t)}.`);
}

function parseValue(v: unknown, where: string): number | null {
  if (v === null) return null;
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string") {
    if (v === "NaN" || v === "+Inf" || v === "-Inf") return null;
    if (NUMBER_RE.test(v)) return Number(v);
  }
  throw new ShapeError(`${where}: the value must be a number, a numeric string, null, "NaN", "+Inf" or "-Inf", not ${describe(v)}.`);
}

/**
 * The chart of an `application/vnd.databook.timeseries+json` value: the
 * union of every series' times, and each series' values at those times.
 */
export function chartFromJson(value: unknown): ChartView {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ShapeError(`A time series result must be an object with "series", not ${describe(value)}.`);
  }
  const obj = value as Record<string, unknown>;
  if (!("series" in obj)) throw new ShapeError(`A time series result needs a "series" list; this one has none.`);
  if (!Array.isArray(obj.series)) {
    throw new ShapeError(`"series" must be a list, not ${describe(obj.series)}.`);
  }
  const parsed = obj.series.map((s, si) => {
    const name = `Series ${si + 1}`;
    if (s === null || typeof s !== "object" || Array.isArray(s)) {
      throw new ShapeError(`${name} must be an object with "labels" and "points", not ${describe(s)}.`);
    }
    const so = s as Record<string, unknown>;
    let labels: Record<string, string> | undefined;
    if (so.labels !== undefined) {
      if (so.labels === null || typeof so.labels !== "object" || Array.isArray(so.labels)) {
        throw new ShapeError(`${name}: "labels" must be an object of strings, not ${describe(so.labels)}.`);
      }
      for (const [k, v] of Object.entries(so.labels)) {
        if (typeof v !== "string") {
          throw new ShapeError(`${name}: label ${JSON.stringify(k)} must be a string, not ${describe(v)}.`);
        }
      }
      labels = so.labels as Record<string, string>;
    }
    const label = formatLabels(labels);
    const rawPoints = so.points === undefined ? [] : so.points;
    if (!Array.isArray(rawPoints)) {
      throw new ShapeError(`Series ${si + 1} ${label}: "points" must be a list of [time, value] pairs, not ${describe(rawPoints)}.`);
    }
    const ts: number[] = new Array(rawPoints.length);
    const vs: (number | null)[] = new Array(rawPoints.length);
    for (let pi = 0; pi < rawPoints.length; pi++) {
      const p = rawPoints[pi];
      const where = `Series ${si + 1} ${label}, point ${pi + 1}`;
      if (!Array.isArray(p) || p.length !== 2) {
        throw new ShapeError(`${where}: expected a [time, value] pair, not ${describe(p)}.`);
      }
      ts[pi] = parseTime(p[0], where);
      vs[pi] = parseValue(p[1], where);
    }
    return { label, ts, vs };
  });

  // The union of times. Series from one query usually share their times, so
  // the common case is a single pass; a sort is needed only when they differ.
  const index = new Map<number, number>();
  const times: number[] = [];
  let sorted = true;
  for (const s of parsed) {
    for (const t of s.ts) {
      if (!index.has(t)) {
        if (times.length > 0 && t < times[times.length - 1]) sorted = false;
        index.set(t, times.length);
        times.push(t);
      }
    }
  }
  if (!sorted) {
    times.sort((a, b) => a - b);
    times.forEach((t, i) => index.set(t, i));
  }
  let points = 0;
  const columns = parsed.map((s) => {
    const col: (number | null)[] = new Array(times.length).fill(null);
    for (let i = 0; i < s.ts.length; i++) {
      col[index.get(s.ts[i])!] = s.vs[i];
      points++;
    }
    return col;
  });
  const series = parsed.map((s) => {
    let min: number | null = null;
    let max: number | null = null;
    let last: number | null = null;
    for (const v of s.vs) {
      if (v === null) continue;
      if (min === null || v < min) min = v;
      if (max === null || v > max) max = v;
    }
    for (let i = s.vs.length - 1; i >= 0; i--) {
      if (s.vs[i] !== null) {
        last = s.vs[i];
        break;
      }
    }
    return { label: s.label, min, max, last };
  });
  return { kind: "chart", series, data: [times, ...columns], points };
}

/** Three significant digits with k/M/G, as the file's sparkline lines show. */
export function formatNumber(v: number | null): string {
  if (v === null) return "–";
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1e12 || a < 1e-3) return v.toExponential(2).replace(/\.?0+e/, "e").replace("e+", "e");
  const units: [number, string][] = [
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "k"],
  ];
  for (const [n, u] of units) {
    if (a >= n) return trimNum((v / n).toPrecision(3)) + u;
  }
  return trimNum(v.toPrecision(3));
}

function trimNum(s: string): string {
  return s.includes(".") && !s.includes("e") ? s.replace(/\.?0+$/, "") : s;
}

/** Checks a value received as a `CellOutput`; returns a message when it is not one. */
export function checkOutput(value: unknown): string | null {
  if (value === null || typeof value !== "object") return `A result must be an object, not ${describe(value)}.`;
  const o = value as Record<string, unknown>;
  for (const key of ["uri", "status", "mime", "data"]) {
    if (typeof o[key] !== "string") return `A result's "${key}" must be a string, not ${describe(o[key])}.`;
  }
  if (typeof o.cell !== "number") return `A result's "cell" must be a number, not ${describe(o.cell)}.`;
  if (o.environment !== undefined && o.environment !== null && typeof o.environment !== "string") {
    return `A result's "environment" must be a string or null, not ${describe(o.environment)}.`;
  }
  return null;
}
