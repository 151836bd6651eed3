// Browser test of `databook export`: the tour, run and exported by the real
// binary ($DATABOOK), opened from disk in headless Chromium with the
// network off. The chart must be drawn (a uPlot canvas with pixels on it),
// the table and the JSON tree too, with no request made and nothing
// refused by the page's Content Security Policy; a notebook full of hostile
// prose and results must run none of it. Screenshots go to the folder it
// prints. Started by ci.sh; every wait is bounded and names what it awaited.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { launchChromium } from "../chromium.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../../../..");
const DATABOOK = process.env.DATABOOK;
if (!DATABOOK) {
  console.error("export: DATABOOK is not set (the databook binary to test)");
  console.log("export: 0 passed, 1 failed");
  process.exit(1);
}

const root = mkdtempSync(join(tmpdir(), "databook-export-"));
const out = process.env.DATABOOK_EXPORT_OUT ?? join(root, "out");
mkdirSync(out, { recursive: true });
console.log(`export: working in ${root}`);

const watchdog = setTimeout(() => {
  console.error("export: FAILED: the whole test took more than 5 minutes");
  console.log(`export: ${passed.length} passed, 1 failed`);
  process.exit(1);
}, 5 * 60 * 1000);

const passed = [];
function pass(what) {
  passed.push(what);
  console.log(`ok ${passed.length} - ${what}`);
}
function check(condition, what) {
  if (!condition) throw new Error(what);
}

/** `databook ARGS` in `dir`, apart from this machine's plugins and caches. */
function databook(dir, args) {
  const started = Date.now();
  const r = spawnSync(DATABOOK, args, {
    cwd: dir,
    encoding: "utf8",
    timeout: 120000,
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      XDG_DATA_HOME: join(dir, "data"),
      XDG_CACHE_HOME: join(dir, "cache"),
    },
  });
  return { ...r, ms: Date.now() - started };
}

/** Polls `fn` in the page until it returns a truthy value, or fails naming `what`. */
async function until(page, what, fn, arg, timeoutMs = 15000) {
  try {
    return await page.waitForFunction(fn, arg, { timeout: timeoutMs, polling: 50 });
  } catch (e) {
    await page.screenshot({ path: join(out, "timeout.png") }).catch(() => {});
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${e.message ?? e}`);
  }
}

/** Opens `file` offline; returns the page, and what it asked the network for. */
async function open(browser, file) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  await context.setOffline(true);
  const requests = [];
  // Every request that is not the file itself is recorded and refused.
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("file:")) return route.continue();
    requests.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  page.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith("file:") && !requests.includes(url)) requests.push(url);
  });
  const problems = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("dialog", (d) => {
    problems.push(`dialog: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  await page.goto(pathToFileURL(file).href);
  await until(page, "the page's script to finish", () => document.body.dataset.ready === "true");
  return { context, page, requests, problems };
}

async function tour(browser) {
  const dir = join(root, "tour");
  mkdirSync(dir);
  copyFileSync(join(repo, "examples/tour.dbk"), join(dir, "tour.dbk"));
  const r = databook(dir, ["export", "tour.dbk", "--run", "-o", "tour.html"]);
  check(r.status === 0, `databook export --run exited ${r.status}: ${r.stderr}${r.error ?? ""}`);
  const file = join(dir, "tour.html");
  const size = statSync(file).size;
  console.log(`export: tour.html is ${(size / 1024).toFixed(1)} KB, written in ${r.ms} ms (run included)`);
  pass("databook export tour.dbk --run -o tour.html writes the page");

  const started = Date.now();
  const { context, page, requests, problems } = await open(browser, file);
  console.log(`export: the page's script finished ${Date.now() - started} ms after opening it`);
  const drawn = await page.evaluate(() => Number(document.body.dataset.drawn));
  check(drawn === 5, `the page drew ${drawn} results, not the tour's 5`);
  pass("every cell's result is drawn");

  const chart = await until(page, "the latency chart", () => {
    const canvas = document.querySelector("#cell-4 .chart canvas");
    if (!canvas || canvas.width === 0 || canvas.height === 0) return null;
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    // Drawn pixels, and those in the series' colours (not grey: the axes
    // and the grid are grey).
    let inked = 0;
    let coloured = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] === 0) continue;
      inked++;
      const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
      if (Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++;
    }
    const legend = [...document.querySelectorAll("#cell-4 .u-legend .u-series .u-label")].map((e) => e.textContent);
    return inked > 500 && coloured > 100 ? { inked, coloured, legend, width: canvas.width, height: canvas.height } : null;
  });
  const c = await chart.jsonValue();
  check(
    JSON.stringify(c.legend) === JSON.stringify(["time", '{handler="/api"}', '{handler="/metrics"}']),
    `the chart's legend is ${JSON.stringify(c.legend)}`,
  );
  pass(`the chart is drawn: ${c.inked} pixels inked, ${c.coloured} in the series' colours, on a ${c.width}×${c.height} canvas`);

  const table = await page.evaluate(() =>
    [...document.querySelectorAll('#cell-3[data-kind="table"] table tbody tr')].map((tr) =>
      [...tr.querySelectorAll("td")].map((td) => td.textContent),
    ),
  );
  check(
    JSON.stringify(table) === JSON.stringify([["api", "3"], ["worker", "5"], ["cron", "1"]]),
    `the table's rows are ${JSON.stringify(table)}`,
  );
  pass("the table is drawn");

  const tree = await page.evaluate(() => ({
    keys: [...document.querySelectorAll('#cell-1[data-kind="tree"] .tree .key')].map((k) => k.textContent).slice(0, 4),
    unhealthy: document.querySelector('#cell-2[data-kind="tree"] .tree .value.string')?.textContent,
  }));
  check(
    JSON.stringify(tree.keys) === JSON.stringify(["services", "0", "1", "2"]),
    `the JSON tree's first keys are ${JSON.stringify(tree.keys)}`,
  );
  check(tree.unhealthy === '"worker"', `the jq cell shows ${tree.unhealthy}`);
  pass("the JSON trees are drawn");

  const prose = await page.evaluate(() => ({
    h1: document.querySelector(".prose h1")?.textContent,
    refs: document.querySelectorAll("pre.source .plugin").length,
  }));
  check(prose.h1 === "A tour of Databook" && prose.refs === 5, `the prose and sources: ${JSON.stringify(prose)}`);
  pass("the prose is rendered and each cell's source is shown");

  const shot = join(out, "tour.png");
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`export: screenshot ${shot}`);
  check(requests.length === 0, `the page asked the network for ${requests.join(", ")}`);
  check(problems.length === 0, `the page reported: ${problems.join("; ")}`);
  pass("no request was made, and nothing was refused or reported");
  await context.close();
}

async function hostile(browser) {
  const dir = join(root, "hostile");
  mkdirSync(dir);
  const evil = `</script><script>document.body.dataset.pwned="script"</script><img src=x onerror="document.body.dataset.pwned='img'">`;
  writeFileSync(
    join(dir, "evil.dbk"),
    [
      `# Hostile <img src=x onerror="document.body.dataset.pwned='prose'">`,
      "",
      `<script>document.body.dataset.pwned="block"</script>`,
      "",
      `A [link](javascript:document.body.dataset.pwned='link') and ![pixel](https://example.com/pixel.png).`,
      "",
      "@plugin=echo name=text mime=text/html",
      evil,
      "",
      "@plugin=echo name=json mime=application/json",
      JSON.stringify({ [evil]: evil }),
      "",
      "@plugin=echo name=table mime=application/vnd.databook.table+json",
      JSON.stringify({ columns: [evil], rows: [[evil]] }),
      "",
    ].join("\n"),
  );
  const r = databook(dir, ["export", "evil.dbk", "--run"]);
  check(r.status === 0, `databook export evil.dbk --run exited ${r.status}: ${r.stderr}${r.error ?? ""}`);
  const { context, page, requests, problems } = await open(browser, join(dir, "evil.html"));
  const state = await page.evaluate(() => ({
    pwned: document.body.dataset.pwned ?? null,
    drawn: Number(document.body.dataset.drawn),
    scripts: document.scripts.length,
    images: document.images.length,
    links: [...document.querySelectorAll("a")].map((a) => a.getAttribute("href")),
    text: document.querySelector('#cell-0[data-kind="text"] .result pre')?.textContent ?? null,
    key: document.querySelector("#cell-1 .tree .key")?.textContent ?? null,
    column: document.querySelector("#cell-2 table th button")?.textContent ?? null,
  }));
  await page.screenshot({ path: join(out, "hostile.png"), fullPage: true });
  check(state.pwned === null, `hostile text ran: ${state.pwned}`);
  check(state.drawn === 3 && state.scripts === 2 && state.images === 0, `the hostile page: ${JSON.stringify(state)}`);
  check(!state.links.some((h) => /script:/i.test(h ?? "")), `a script link was kept: ${JSON.stringify(state.links)}`);
  check(state.text === evil && state.key === evil && state.column === evil, `the hostile results are not shown as text: ${JSON.stringify(state)}`);
  check(requests.length === 0, `the hostile page asked the network for ${requests.join(", ")}`);
  check(problems.length === 0, `the hostile page reported: ${problems.join("; ")}`);
  pass("hostile prose and results are shown as text, and none of them runs");
  await context.close();
}

let browser;
try {
  browser = await launchChromium();
  await tour(browser);
  await hostile(browser);
  console.log(`export: ${passed.length} passed, 0 failed`);
} catch (e) {
  console.error(`export: FAILED: ${e instanceof Error ? e.message : e}`);
  console.log(`export: ${passed.length} passed, 1 failed`);
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  await browser?.close();
  console.log(`export: screenshots in ${out}`);
}
