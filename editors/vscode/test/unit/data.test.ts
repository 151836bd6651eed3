// Unit tests of the preview's data handling (src/preview/data.ts), run with
// Node's built-in test runner after esbuild has bundled them (npm test).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CellOutput,
  chartFromJson,
  checkOutput,
  formatLabels,
  formatNumber,
  sortRows,
  tableFromCsv,
  tableFromJson,
  toView,
  TreeNode,
} from "../../src/preview/data";

function output(mime: string, data: string, status = "ok"): CellOutput {
  return { uri: "file:///n.dbk", cell: 0, name: null, status, mime, data, logs: [] };
}

test("a table result becomes a table, short rows padded, numeric columns found", () => {
  const view = toView(
    output(
      "application/vnd.databook.table+json",
      JSON.stringify({
        columns: ["instance", "job", "value"],
        rows: [
          ["127.0.0.1:9090", "prometheus", 1],
          ["127.0.0.1:9100", "node", "0.5"],
          ["127.0.0.1:9200", null],
        ],
      }),
    ),
  );
  assert.equal(view.kind, "table");
  if (view.kind !== "table") return;
  assert.deepEqual(view.columns, ["instance", "job", "value"]);
  assert.deepEqual(view.rows[2], ["127.0.0.1:9200", null, null]);
  assert.deepEqual(view.numeric, [false, false, true]);
});

test("a row longer than the columns gets its extra cell under an empty header", () => {
  const t = tableFromJson({ columns: ["a"], rows: [[1, 2], [3]] });
  assert.deepEqual(t.columns, ["a", ""]);
  assert.deepEqual(t.rows, [
    [1, 2],
    [3, null],
  ]);
});

test("a table without rows is a header only", () => {
  const t = tableFromJson({ columns: ["a", "b"] });
  assert.deepEqual(t.rows, []);
  assert.deepEqual(t.numeric, [false, false]);
});

test("the parameters of a MIME type do not change the view", () => {
  const v = toView(output("Application/vnd.databook.table+json; charset=utf-8", '{"columns":["x"],"rows":[[1]]}'));
  assert.equal(v.kind, "table");
});

test("sorting a table: numbers by value, text naturally, empty cells last, stable", () => {
  const t = tableFromJson({
    columns: ["name", "n"],
    rows: [
      ["b", "10"],
      ["a", 9],
      ["c", null],
      ["a2", 9],
      ["a10", 100],
    ],
  });
  assert.deepEqual(
    sortRows(t, 1, false).map((r) => r[0]),
    ["a", "a2", "b", "a10", "c"],
  );
  assert.deepEqual(
    sortRows(t, 1, true).map((r) => r[0]),
    ["a10", "b", "a", "a2", "c"],
  );
  assert.deepEqual(
    sortRows(t, 0, false).map((r) => r[0]),
    ["a", "a2", "a10", "b", "c"],
  );
  // The original order is left alone.
  assert.equal(t.rows[0][0], "b");
});

test("a CSV result becomes a table with its first row as the header", () => {
  const t = tableFromCsv('service,note\r\napi,"says ""hi"", twice"\nworker,"two\nlines"\n');
  assert.deepEqual(t.columns, ["service", "note"]);
  assert.deepEqual(t.rows, [
    ["api", 'says "hi", twice'],
    ["worker", "two\nlines"],
  ]);
});

test("JSON becomes a tree with keys in order and counted children", () => {
  const v = toView(output("application/json", '{"services": [{"name": "api", "ok": true}], "n": null, "x": 1.5}'));
  assert.equal(v.kind, "tree");
  if (v.kind !== "tree") return;
  const root = v.root;
  assert.equal(root.summary, "{3 keys}");
  assert.deepEqual(
    root.children!.map((c) => [c.key, c.type, c.summary]),
    [
      ["services", "array", "[1 item]"],
      ["n", "null", "null"],
      ["x", "number", "1.5"],
    ],
  );
  const first = root.children![0].children![0] as TreeNode;
  assert.equal(first.key, "0");
  assert.deepEqual(
    first.children!.map((c) => c.summary),
    ['"api"', "true"],
  );
});

test("any other +json type is a tree too", () => {
  assert.equal(toView(output("application/vnd.example+json", "[1, 2]")).kind, "tree");
});

test("a time series becomes aligned chart data with gaps as null", () => {
  const view = toView(
    output(
      "application/vnd.databook.timeseries+json",
      JSON.stringify({
        series: [
          { labels: { job: "a" }, points: [[1732350000, 0.5], [1732350030, "1.5"], [1732350060, 1]] },
          { labels: { job: "b" }, points: [[1732350000, null], [1732350030, "NaN"]] },
          { points: [[1732350000, 2], ["1732350015", 2]] },
        ],
      }),
    ),
  );
  assert.equal(view.kind, "chart");
  if (view.kind !== "chart") return;
  assert.deepEqual(view.data[0], [1732350000, 1732350015, 1732350030, 1732350060]);
  assert.deepEqual(view.data[1], [0.5, null, 1.5, 1]);
  assert.deepEqual(view.data[2], [null, null, null, null]);
  assert.deepEqual(view.data[3], [2, 2, null, null]);
  assert.deepEqual(
    view.series.map((s) => s.label),
    ['{job="a"}', '{job="b"}', "{}"],
  );
  assert.deepEqual(
    [view.series[0].min, view.series[0].max, view.series[0].last],
    [0.5, 1.5, 1],
  );
  assert.equal(view.series[1].last, null);
  assert.equal(view.points, 7);
});

test("an empty series list is a chart with no series", () => {
  const c = chartFromJson({ series: [] });
  assert.deepEqual(c.data, [[]]);
  assert.equal(c.series.length, 0);
});

test("labels are written as the file writes them", () => {
  assert.equal(formatLabels({ job: "a", handler: '/a"b' }), '{handler="/a\\"b",job="a"}');
  assert.equal(formatLabels({ "a b": "x" }), '{"a b"="x"}');
  assert.equal(formatLabels(undefined), "{}");
});

test("numbers get three significant digits and a unit", () => {
  assert.equal(formatNumber(0.5), "0.5");
  assert.equal(formatNumber(42), "42");
  assert.equal(formatNumber(1234), "1.23k");
  assert.equal(formatNumber(2_500_000), "2.5M");
  assert.equal(formatNumber(0.000123), "1.23e-4");
  assert.equal(formatNumber(null), "–");
});

test("10,000 points per series are handled quickly", () => {
  const n = 10_000;
  const series = [0, 1, 2].map((k) => ({
    labels: { k: String(k) },
    points: Array.from({ length: n }, (_, i) => [1700000000 + i * 15, String(Math.sin(i / 100) + k)]),
  }));
  const start = performance.now();
  const c = chartFromJson(JSON.parse(JSON.stringify({ series })));
  const ms = performance.now() - start;
  assert.equal(c.data[0].length, n);
  assert.equal(c.data.length, 4);
  assert.equal(c.points, 3 * n);
  // Generous bound: a quadratic union of times would take seconds here.
  assert.ok(ms < 1000, `took ${ms} ms`);
});

test("a failed run is an error view with its message", () => {
  const v = toView(output("text/plain", "jq: error: syntax error", "error"));
  assert.deepEqual(v, { kind: "error", message: "jq: error: syntax error" });
});

test("plain text stays text, with no problem noted", () => {
  assert.deepEqual(toView(output("text/plain", "hello")), { kind: "text", text: "hello" });
});

function problemOf(mime: string, data: string): string {
  const v = toView(output(mime, data));
  assert.equal(v.kind, "text", `expected ${data} to be shown as text`);
  if (v.kind !== "text") return "";
  assert.equal(v.text, data, "the data is shown as it is");
  assert.ok(v.problem, "a problem is named");
  return v.problem!;
}

test("bad data is shown as text with a readable message", () => {
  const TABLE = "application/vnd.databook.table+json";
  const SERIES = "application/vnd.databook.timeseries+json";
  assert.match(problemOf("application/json", '{"a": }'), /^The data is not valid JSON \(line 1, column 7\): unexpected "}" where a value was expected\. Shown as text\.$/);
  assert.match(problemOf("application/json", '{\n  "a": 1,\n}'), /not valid JSON \(line 3, column 1\)/);
  assert.match(problemOf(TABLE, '{"rows": []}'), /needs a "columns" list/);
  assert.match(problemOf(TABLE, '{"columns": "a"}'), /"columns" must be a list of strings, not the string "a"/);
  assert.match(problemOf(TABLE, '{"columns": ["a", 1]}'), /Column 2 must be a string, not number 1/);
  assert.match(problemOf(TABLE, '{"columns": ["a"], "rows": [[{"x": 1}]]}'), /Row 1, column 1: a cell must be/);
  assert.match(problemOf(TABLE, "[1]"), /must be an object .* not a list of 1/);
  assert.match(problemOf(SERIES, "{}"), /needs a "series" list/);
  assert.match(
    problemOf(SERIES, '{"series": [{"labels": {"job": "a"}, "points": [[1, 2], [3]]}]}'),
    /^Series 1 \{job="a"\}, point 2: expected a \[time, value\] pair, not a list of 1\. Shown as text\.$/,
  );
  assert.match(problemOf(SERIES, '{"series": [{"points": [[null, 2]]}]}'), /the time must be a number of Unix seconds, not null/);
  assert.match(problemOf(SERIES, '{"series": [{"points": [[1, "fast"]]}]}'), /the value must be a number.*not the string "fast"/);
  assert.match(problemOf(SERIES, '{"series": [{"labels": {"a": 1}}]}'), /label "a" must be a string, not number 1/);
  assert.match(problemOf("text/csv", 'a,b\n"open'), /quote opened on line 2 that is never closed/);
});

test("a message that is not a result is named", () => {
  assert.equal(checkOutput({ uri: "u", cell: 0, status: "ok", mime: "text/plain", data: "" }), null);
  assert.match(checkOutput({ uri: "u", cell: "0", status: "ok", mime: "text/plain", data: "" })!, /"cell" must be a number/);
  assert.match(checkOutput({ uri: "u", cell: 0, status: "ok", mime: "text/plain" })!, /"data" must be a string/);
  assert.match(checkOutput(null)!, /must be an object/);
});

test("a JSON error names its place and reason", () => {
  const cases: [string, RegExp][] = [
    ['{"a": 1', /line 1, column 8\): the end of the data where "," or "}" was expected/],
    ['["a" "b"]', /line 1, column 6\): unexpected "\\"" where "," or "\]" was expected/],
    ['{"a": "x\n"}', /line 1, column 9\): a control character inside a string/],
    ["[1] x", /line 1, column 5\): unexpected "x" after the end of the value/],
    ["{a: 1}", /line 1, column 2\): unexpected "a" where a key in quotes was expected/],
    ['"abc', /a string that is never closed/],
  ];
  for (const [data, re] of cases) assert.match(problemOf("application/json", data), re);
});
