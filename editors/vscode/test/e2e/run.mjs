// End-to-end test: the packaged extension in real VS Code (code-server),
// driven through Chromium by Playwright as a user would: keys, clicks on
// lenses, the command palette. Started by run.sh, which sets CODE_SERVER,
// NODE24, VSIX and DATABOOK. Every wait is bounded and names what it awaited.
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { createServer as createHttpServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "../chromium.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../../../..");
const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`e2e: ${name} is not set (run test/e2e/run.sh)`);
  return v;
};
const CODE_SERVER = env("CODE_SERVER");
const VSIX = env("VSIX");
const TRIES = Number(process.env.DATABOOK_E2E_TRIES ?? 20);
const args = new Set(process.argv.slice(2));
const BENCH = !args.has("--no-bench");

const root = mkdtempSync(join(tmpdir(), "databook-vscode-e2e-"));
const shots = process.env.DATABOOK_E2E_SHOTS ?? join(root, "screenshots");
mkdirSync(shots, { recursive: true });
const userData = join(root, "user-data");
const extensions = join(root, "extensions");
const workspace = join(root, "workspace");
const configFile = join(root, "code-server.yaml");
console.log(`e2e: working in ${root}`);
console.log(`e2e: screenshots in ${shots}`);

// The whole test stops itself, whatever hangs.
const WATCHDOG_MS = 20 * 60 * 1000;
const watchdog = setTimeout(() => {
  console.error(`e2e: FAILED: the whole test took more than ${WATCHDOG_MS / 60000} minutes`);
  stopCodeServer();
  process.exit(1);
}, WATCHDOG_MS);

let codeServer;
function stopCodeServer() {
  if (!codeServer || codeServer.exitCode !== null) return;
  // code-server's extension host and the language server live in its
  // process group; stopping only code-server can leave them running.
  try {
    process.kill(-codeServer.pid, "SIGTERM");
  } catch {}
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    try {
      process.kill(-codeServer.pid, 0);
    } catch {
      return;
    }
    spawnSync("sleep", ["0.1"]);
  }
  try {
    process.kill(-codeServer.pid, "SIGKILL");
  } catch {}
}
process.on("exit", stopCodeServer);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    stopCodeServer();
    process.exit(130);
  });
}

let step = 0;
let page;
/** When this test last killed a language server on purpose (ms). */
let lastDeliberateKill = 0;
async function shot(name) {
  step++;
  const file = join(shots, `${String(step).padStart(2, "0")}-${name}.png`);
  if (page) await page.screenshot({ path: file }).catch((e) => console.error(`e2e: screenshot ${name} failed: ${e}`));
  return file;
}

const passed = [];
function pass(what) {
  passed.push(what);
  console.log(`ok ${passed.length} - ${what}`);
}

async function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

/** Polls `fn` until it returns a truthy value, or fails naming `what`. */
async function until(what, fn, timeoutMs = 30000, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      await shot(`timeout-${what.replace(/[^a-z0-9]+/gi, "-").slice(0, 40)}`);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message ?? last})` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// ------------------------------------------------------------ the workspace

/** The notebook without its output blocks, so that each run's block is seen to appear. */
function withoutOutputs(text) {
  const out = [];
  let inOutput = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("@output") && /^@output([ \t]|$)/.test(line)) {
      inOutput = true;
      continue;
    }
    if (inOutput && line.startsWith(">")) continue;
    inOutput = false;
    out.push(line);
  }
  return out.join("\n");
}

function prepareWorkspace(slowPort) {
  cpSync(join(repo, "examples"), workspace, { recursive: true });
  const tour = join(workspace, "tour.dbk");
  const text = withoutOutputs(readFileSync(tour, "utf8"));
  if (text.includes("@output")) throw new Error("e2e: the tour still has an output block after stripping");
  // A misspelled plugin, for the diagnostic.
  // A misspelled plugin, for the diagnostic, and a slow request to a
  // loopback server of the test's own, for the status bar and cancelling.
  writeFileSync(
    tour,
    `${text.trimEnd()}\n\n## A typo\n\n@plugin=ecoh name=typo\nspelled wrong\n@end\n\n` +
      `## A slow cell\n\n@plugin=http name=slow\nGET http://127.0.0.1:${slowPort}/slow\n@end\n`,
  );
  // A notebook with 10,000 points in each of 3 series, one series a line.
  const series = [0, 1, 2].map((k) => {
    const points = Array.from({ length: BIG_POINTS }, (_, i) => `[${1700000000 + i * 15},${(Math.sin(i / 400 + k) + k * 0.5).toFixed(4)}]`);
    return `{"labels": {"k": "s${k}"}, "points": [${points.join(",")}]}`;
  });
  writeFileSync(
    join(workspace, "big.dbk"),
    `# Big\n\n@plugin=echo name=big mime=application/vnd.databook.timeseries+json\n{"series": [\n${series.join(",\n")}\n]}\n@end\n`,
  );
  // Environments: a test plugin that answers `env NAME` with the variable's
  // value (Some("...") or None), granted TARGET, whose value the
  // environment staging changes. It is found through `plugins = [...]`: a
  // `.databook/` made by the test would keep the server from writing the
  // `.gitignore` checked below.
  writeFileSync(
    join(workspace, "databook.toml"),
    'plugins = ["plugins"]\n\n[env]\nTARGET = "base"\n\n[environments.staging]\nTARGET = "staging value"\n\n[environments.prod]\nTARGET = "prod value"\n',
  );
  const envy = join(workspace, "plugins", "envy");
  mkdirSync(envy, { recursive: true });
  cpSync(join(repo, "plugins", "testing", "misbehave", "plugin.wasm"), join(envy, "plugin.wasm"));
  writeFileSync(
    join(envy, "config.toml"),
    'name = "envy"\nversion = "0.1.0"\ndescription = "Reads TARGET"\napi = "0.1"\n[permissions]\nenv = ["TARGET"]\n',
  );
  writeFileSync(join(workspace, "envy.dbk"), "# Environments\n\n@plugin=envy name=target\nenv TARGET\n@end\n");
  mkdirSync(join(userData, "User"), { recursive: true });
  writeFileSync(
    join(userData, "User", "settings.json"),
    JSON.stringify(
      {
        "security.workspace.trust.enabled": false,
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": false,
        "workbench.enableExperiments": false,
        "workbench.colorTheme": "Default Dark Modern",
        "telemetry.telemetryLevel": "off",
        "update.mode": "none",
        "extensions.autoCheckUpdates": false,
        "extensions.autoUpdate": false,
        "extensions.ignoreRecommendations": true,
        "git.enabled": false,
        "editor.minimap.enabled": false,
        "chat.disableAIFeatures": true,
        "workbench.secondarySideBar.defaultVisibility": "hidden",
        "window.commandCenter": false,
      },
      null,
      2,
    ),
  );
  writeFileSync(configFile, "auth: none\ncert: false\n");
}

/** A loopback HTTP server that answers only after SLOW_MS, so a run can be seen running and cancelled. */
const SLOW_MS = 8000;
const BIG_POINTS = 10000;
async function slowServer() {
  const state = { port: 0, requests: 0, closedEarly: 0 };
  const srv = createHttpServer((req, res) => {
    state.requests++;
    const timer = setTimeout(() => res.end("slow answer\n"), SLOW_MS);
    res.on("close", () => {
      if (!res.writableEnded) state.closedEarly++;
      clearTimeout(timer);
    });
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  state.port = srv.address().port;
  state.close = () => {
    srv.closeAllConnections();
    srv.close();
  };
  return state;
}

// ------------------------------------------------------------ code-server

/**
 * code-server's environment: its extension gallery is pointed at a closed
 * loopback port, so nothing in the test (a theme or extension search, an
 * update check) reaches for the network.
 */
function offlineEnv() {
  const closed = "http://127.0.0.1:9";
  return {
    ...process.env,
    EXTENSIONS_GALLERY: JSON.stringify({ serviceUrl: `${closed}/gallery`, itemUrl: `${closed}/item`, resourceUrlTemplate: `${closed}/{publisher}/{name}/{version}/{path}` }),
  };
}

function codeServerArgs() {
  return ["--user-data-dir", userData, "--extensions-dir", extensions, "--config", configFile];
}

function installExtension() {
  const r = spawnSync(CODE_SERVER, [...codeServerArgs(), "--install-extension", VSIX], { encoding: "utf8", timeout: 120000, env: offlineEnv() });
  const output = `${r.stdout}\n${r.stderr}`;
  if (r.status !== 0 || !/successfully installed/i.test(output)) {
    throw new Error(`e2e: installing ${VSIX} failed (status ${r.status}):\n${output}`);
  }
  pass(`code-server --install-extension ${VSIX.split("/").pop()}`);
}

async function startCodeServer(port) {
  const log = openSync(join(root, "code-server.log"), "a");
  codeServer = spawn(
    CODE_SERVER,
    [
      ...codeServerArgs(),
      "--auth",
      "none",
      "--bind-addr",
      `127.0.0.1:${port}`,
      "--disable-telemetry",
      "--disable-update-check",
      "--disable-workspace-trust",
      "--disable-getting-started-override",
      "--ignore-last-opened",
      workspace,
    ],
    { detached: true, stdio: ["ignore", log, log], env: offlineEnv() },
  );
  await until(`code-server to answer on 127.0.0.1:${port}/healthz`, async () => {
    if (codeServer.exitCode !== null) throw new Error(`code-server exited with ${codeServer.exitCode}; see ${root}/code-server.log`);
    const r = await fetch(`http://127.0.0.1:${port}/healthz`);
    return r.ok;
  }, 60000, 250);
}

/** The `databook lsp` processes in code-server's process group. */
function lspPids() {
  const r = spawnSync("ps", ["-eo", "pid=,pgid=,args="], { encoding: "utf8" });
  return r.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 4 && Number(f[1]) === codeServer.pid && f[2].endsWith("/databook") && f[3] === "lsp")
    .map((f) => Number(f[0]));
}

// ------------------------------------------------------------ the editor

const nbsp = /\u00a0/g;

/** The text of the editor's visible lines, top to bottom. */
async function visibleText() {
  return page.evaluate(() => {
    const editor = document.querySelector(".editor-instance .monaco-editor .view-lines");
    if (!editor) return "";
    const lines = [...editor.querySelectorAll(".view-line")];
    lines.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top));
    return lines.map((l) => l.textContent).join("\n");
  }).then((t) => t.replace(nbsp, " "));
}

async function command(title) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: 10000 });
  await input.fill(`>${title}`);
  // The palette matches loosely; the row named exactly so is the one chosen.
  const row = await until(`the command palette to list "${title}"`, async () => {
    const rows = page.locator(".quick-input-list .monaco-list-row");
    const n = await rows.count();
    for (let i = 0; i < n; i++) {
      const label = await rows.nth(i).locator(".label-name").first().textContent().catch(() => null);
      if (label?.replace(/\u00a0/g, " ").trim() === title) return rows.nth(i);
    }
    return null;
  }, 10000, 50);
  await row.click();
}

/** Opens a file of the workspace through Quick Open, and waits for `text` in the editor. */
async function openFile(name, text) {
  // Quick Open opens the file in the active group: the notebook's, not the preview's.
  if ((await page.locator(".editor-instance .monaco-editor").count()) > 0) await focusEditor();
  const input = page.locator(".quick-input-widget input");
  await until(`Quick Open to list ${name}`, async () => {
    if (!(await input.isVisible())) {
      await page.keyboard.press("Control+p");
      await input.waitFor({ state: "visible", timeout: 2000 });
    }
    await input.fill(name, { timeout: 2000 });
    await page.waitForTimeout(200);
    return (await page.locator(".quick-input-list .monaco-list-row").allTextContents()).some((t) => t.includes(name));
  }, 20000, 500);
  await page.keyboard.press("Enter");
  await until(`${name} as the first group's active tab`, async () => {
    const tab = await page.locator(".editor-group-container").first().locator(".tab.active").textContent().catch(() => "");
    return tab?.includes(name) && (text === undefined || (await visibleText()).includes(text));
  }, 20000);
}

/** Gives the notebook's editor the keyboard, with a click in the middle of what it shows. */
async function focusEditor() {
  const box = await page.locator(".editor-instance .monaco-editor").first().boundingBox();
  if (!box) throw new Error("e2e: no editor to focus");
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  // The mouse moves off the text, so that no hover opens over the editor.
  await page.mouse.move(box.x + box.width / 2, 5);
}

/** The text of the line the cursor is on, as the editor shows it. */
async function currentLineText() {
  return page.evaluate(() => {
    const editor = document.querySelector(".editor-instance .monaco-editor");
    const current = editor?.querySelector(".view-overlays .current-line");
    if (!current) return null;
    const top = current.parentElement.style.top || current.style.top;
    const line = [...editor.querySelectorAll(".view-lines .view-line")].find((l) => l.style.top === top);
    return line ? line.textContent.replace(/\u00a0/g, " ") : null;
  });
}

/**
 * Puts the cursor at the start of the first line holding `text`, through
 * the Find widget, then `linesDown` lines below; checks that it got there,
 * and tries again when a widget or a notification took a key.
 */
async function goTo(text, linesDown = 0) {
  const input = page.locator(".find-widget.visible textarea, .find-widget.visible input").first();
  await until(`the cursor on the line ${JSON.stringify(text)}`, async () => {
    await focusEditor();
    await page.keyboard.press("Control+f");
    await input.waitFor({ state: "visible", timeout: 2000 });
    await input.fill(text, { timeout: 2000 });
    const found = await until(`the Find widget to find ${JSON.stringify(text)}`, async () => {
      const count = await page.locator(".find-widget .matchesCount").textContent();
      return count && !/No results/i.test(count);
    }, 2000, 50).catch(() => false);
    await page.keyboard.press("Enter");
    // Escape closes the Find widget, unless a notification takes it first.
    await until("the Find widget to close", async () => {
      if ((await page.locator(".find-widget.visible").count()) === 0) return true;
      await page.keyboard.press("Escape");
      return false;
    }, 3000, 100);
    if (!found) return false;
    await page.keyboard.press("Home");
    await page.keyboard.press("Home");
    return (await currentLineText())?.startsWith(text);
  }, 30000, 300);
  for (let i = 0; i < linesDown; i++) await page.keyboard.press("ArrowDown");
}

/** The cursor's 1-based line, as the status bar shows it once it has caught up with the cursor. */
async function cursorLine() {
  const read = async () => {
    const status = await page.locator("#status\\.editor\\.selection").textContent().catch(() => null);
    const m = status && /Ln (\d+)/.exec(status);
    return m ? Number(m[1]) : null;
  };
  let last = await read();
  return until("the status bar's cursor position to settle", async () => {
    await new Promise((r) => setTimeout(r, 150));
    const now = await read();
    const settled = now !== null && now === last;
    last = now;
    return settled ? now : null;
  }, 5000, 0);
}

/** Clicks the `▶ Run` lens of the cell whose header is on `line` (1-based). */
async function clickRunLens(line) {
  const box = await until(`line ${line}'s number in the gutter`, async () => {
    const nums = page.locator(".margin-view-overlays .line-numbers");
    const n = await nums.count();
    for (let i = 0; i < n; i++) {
      const el = nums.nth(i);
      if ((await el.textContent())?.trim() === String(line)) return el.boundingBox();
    }
    return null;
  }, 10000);
  const lens = await until(`a ▶ Run lens above line ${line}`, async () => {
    const links = page.locator(".codelens-decoration a");
    const n = await links.count();
    let best = null;
    for (let i = 0; i < n; i++) {
      const a = links.nth(i);
      if ((await a.textContent())?.trim() !== "▶ Run") continue;
      const b = await a.boundingBox();
      if (!b || b.y >= box.y) continue;
      if (!best || b.y > best.b.y) best = { a, b };
    }
    return best && box.y - best.b.y < 3 * box.height ? best.a : null;
  }, 30000);
  await lens.click();
}

// ------------------------------------------------------------ the preview

async function previewFrame() {
  for (const frame of page.frames()) {
    try {
      if (await frame.evaluate(() => !!document.getElementById("cells") && !!document.getElementById("title"))) return frame;
    } catch {}
  }
  return null;
}

/** The chart of cell `name` in the preview: drawn pixels, legend labels, its timing marks. */
async function chartState(frame, name) {
  return frame.evaluate((name) => {
    const section = [...document.querySelectorAll("section.cell")].find((s) => s.querySelector("h2 a")?.textContent === name);
    if (!section || section.dataset.kind !== "chart") return null;
    const chart = section.querySelector(".chart");
    const canvas = section.querySelector("canvas");
    if (!chart || !canvas || canvas.width === 0) return null;
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let drawn = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) drawn++;
    const legend = [...section.querySelectorAll(".u-legend .u-series .u-label")].map((l) => l.textContent);
    return {
      drawn,
      size: [canvas.width, canvas.height],
      legend,
      receivedAt: Number(chart.dataset.receivedAt ?? 0),
      drawnAt: Number(chart.dataset.drawnAt ?? 0),
    };
  }, name);
}

async function tableState(frame, name) {
  return frame.evaluate((name) => {
    const section = [...document.querySelectorAll("section.cell")].find((s) => s.querySelector("h2 a")?.textContent === name);
    if (!section || section.dataset.kind !== "table") return null;
    return {
      header: [...section.querySelectorAll("thead th")].map((th) => th.textContent),
      rows: [...section.querySelectorAll("tbody tr")].map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)),
    };
  }, name);
}

async function waitForChart(what, name, timeoutMs = 30000) {
  return until(what, async () => {
    const frame = await previewFrame();
    if (!frame) return null;
    const s = await chartState(frame, name);
    return s && s.drawn > 500 && s.legend.length >= 3 ? { frame, state: s } : null;
  }, timeoutMs, 100);
}

// ------------------------------------------------------------ the test

function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function main() {
  const slow = await slowServer();
  prepareWorkspace(slow.port);
  installExtension();
  const port = await freePort();
  await startCodeServer(port);
  pass(`code-server listens on 127.0.0.1:${port}`);

  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: { width: 1500, height: 950 } });
    page = await context.newPage();
    const consoleErrors = [];
    // Errors of the preview's frames, or naming Databook. (The workbench's own
    // refused gallery requests, see offlineEnv, are expected and left out.)
    page.on("console", (m) => {
      if (m.type() !== "error") return;
      // The language client may write to a server this test has just
      // killed, before it sees the process gone: that error is the kill's.
      if (/connection to server is erroring/.test(m.text()) && Date.now() - lastDeliberateKill < 10000) return;
      if (/webview/i.test(m.location().url ?? "") || /databook/i.test(m.text())) consoleErrors.push(`${m.location().url}: ${m.text()}`);
    });
    const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`;
    await page.goto(url, { timeout: 60000 });
    await page.locator(".monaco-workbench").waitFor({ state: "visible", timeout: 60000 });
    await shot("workbench");

    await openFile("tour.dbk", "A tour of Databook");
    await until("the language mode Databook in the status bar", async () => (await page.locator("#status\\.editor\\.mode").textContent())?.includes("Databook"), 20000);
    pass("tour.dbk opens as a Databook notebook");

    await until("the ▶ Run lenses from the server", async () => (await page.locator(".codelens-decoration a", { hasText: "▶ Run" }).count()) > 0, 90000, 250);
    await shot("lenses");
    pass("the server's ▶ Run lenses are shown");

    // The misspelled plugin's diagnostic, in the editor and in Problems.
    await goTo("@plugin=ecoh");
    await until("a squiggle under the misspelled plugin", async () => (await page.locator(".monaco-editor .squiggly-error").count()) > 0, 30000);
    await page.keyboard.press("Control+Shift+M");
    const problem = await until("the Problems panel to list the unknown plugin `ecoh`", async () => {
      const rows = await page.locator(".markers-panel .monaco-list-row").allTextContents();
      return rows.find((r) => r.includes("ecoh") && r.includes("echo"));
    }, 20000);
    await shot("diagnostic");
    pass(`a diagnostic on the misspelled plugin, in the Problems panel: ${JSON.stringify(problem)}`);
    await page.keyboard.press("Control+Shift+M");

    // Run the first cell with its lens.
    await goTo("@plugin=echo name=hello");
    const helloLine = await cursorLine();
    if (!helloLine) throw new Error("e2e: the status bar shows no cursor line");
    await clickRunLens(helloLine);
    await until("the hello cell's output block in the editor", async () => {
      const t = await visibleText();
      return t.includes("@output status=ok mime=text/plain") && t.includes("> Hello from a cell. The echo plugin returns its body.");
    }, 30000, 50);
    await shot("run-with-lens");
    pass("▶ Run lens: the hello cell's output block appears in the text");

    // Run the table cell with Ctrl+Enter, the cursor in its body.
    await goTo("@plugin=echo name=table", 1);
    await page.keyboard.press("Control+Enter");
    await until("the table cell's output block in the editor", async () => {
      const t = await visibleText();
      return t.includes("@output status=ok mime=application/vnd.databook.table+json") && t.includes("> service  replicas") && t.includes("> worker          5");
    }, 30000, 50);
    await shot("run-with-ctrl-enter");
    pass("Ctrl+Enter: the table cell's output block appears in the text");

    await page.keyboard.press("Control+s");
    await until("the saved tour.dbk to hold both output blocks", async () => {
      const t = readFileSync(join(workspace, "tour.dbk"), "utf8");
      return t.includes("> Hello from a cell. The echo plugin returns its body.") && t.includes("> worker          5");
    }, 10000);
    pass("saved to disk with both output blocks");

    // The preview, then a time series run into it.
    await command("Databook: Open Preview");
    const frame = await until("the preview webview with the table", async () => {
      const f = await previewFrame();
      if (!f) return null;
      const t = await tableState(f, "table");
      return t && t.rows.length === 3 ? f : null;
    }, 30000);
    const table = await tableState(frame, "table");
    if (JSON.stringify(table.header) !== JSON.stringify(["service", "replicas"]) || table.rows[1][0] !== "worker" || table.rows[1][1] !== "5") {
      throw new Error(`e2e: the preview's table is ${JSON.stringify(table)}`);
    }
    pass(`the preview shows the table: ${JSON.stringify(table)}`);

    await goTo("@plugin=echo name=latency", 1);
    await page.keyboard.press("Control+Enter");
    await until("the latency cell's output block in the editor", async () => (await visibleText()).includes('> {handler="/api"}'), 30000, 50);
    const chart = await waitForChart("a uPlot chart drawn for the latency cell in the preview", "latency");
    await shot("preview-chart");
    const legend = chart.state.legend.join(" ");
    if (!legend.includes('{handler="/api"}') || !legend.includes('{handler="/metrics"}')) throw new Error(`e2e: the chart's legend is ${legend}`);
    pass(`the preview draws the time series: ${chart.state.drawn} drawn pixels on a ${chart.state.size.join("×")} canvas, legend ${legend}`);

    // Sorting the preview's table by a click on a header.
    await frame.evaluate(() => {
      const section = [...document.querySelectorAll("section.cell")].find((s) => s.querySelector("h2 a")?.textContent === "table");
      section.querySelectorAll("thead th button")[1].click();
    });
    const sorted = await tableState(frame, "table");
    if (sorted.rows.map((r) => r[0]).join(",") !== "cron,api,worker") throw new Error(`e2e: sorted by replicas: ${JSON.stringify(sorted.rows)}`);
    pass("the preview's table sorts by replicas: cron, api, worker");

    // Shift+Enter runs the cell and moves the cursor into the next one.
    await goTo("@plugin=echo name=hello", 1);
    const before = await cursorLine();
    await page.keyboard.press("Shift+Enter");
    const servicesLine = await until("the cursor to move into the next cell (services)", async () => {
      const line = await cursorLine();
      return line && line > before ? line : null;
    }, 10000, 50);
    await goTo("@plugin=echo name=services", 1);
    if ((await cursorLine()) !== servicesLine) throw new Error(`e2e: Shift+Enter put the cursor on line ${servicesLine}, not in the services cell's body (line ${await cursorLine()})`);
    pass(`Shift+Enter moves the cursor from line ${before} to the next cell's body, line ${servicesLine}`);

    // Ctrl+Alt+Enter runs every cell: the preview shows JSON trees and the typo's error.
    await page.keyboard.press("Control+Alt+Enter");
    const all = await until("the preview to show the services tree, the jq result and the typo's error", async () => {
      const f = await previewFrame();
      return f && f.evaluate(() => {
        const kinds = Object.fromEntries([...document.querySelectorAll("section.cell")].map((s) => [s.querySelector("h2 a")?.textContent, s.dataset.kind]));
        const jq = [...document.querySelectorAll("section.cell")].find((s) => s.dataset.kind === "tree" && s.textContent.includes('"worker"') && !s.textContent.includes("replicas"));
        const typo = [...document.querySelectorAll("section.cell")].find((s) => s.querySelector("h2 a")?.textContent === "typo");
        return kinds.services === "tree" && jq && kinds.typo === "error" ? { kinds, typoError: typo.querySelector("pre.error").textContent } : null;
      });
    }, 60000, 200);
    await shot("run-all");
    pass(`Ctrl+Alt+Enter runs all: the preview shows ${JSON.stringify(all.kinds)}; the typo's error: ${JSON.stringify(all.typoError.slice(0, 80))}`);

    // Reload the window: the preview comes back with the results from the
    // server's store, given by a new server process.
    const serversBefore = lspPids();
    if (serversBefore.length === 0) throw new Error("e2e: no databook lsp process in code-server's process group");
    const store = join(workspace, ".databook");
    const ignore = readFileSync(join(store, ".gitignore"), "utf8");
    if (!ignore.split("\n").some((l) => l.trim() === "*")) throw new Error(`e2e: .databook/.gitignore does not ignore everything: ${JSON.stringify(ignore)}`);
    if (!existsSync(join(store, "results"))) throw new Error("e2e: the server wrote no .databook/results/");
    await page.keyboard.press("Control+s");
    await page.reload({ timeout: 60000 });
    await page.locator(".monaco-workbench").waitFor({ state: "visible", timeout: 60000 });
    const again = await waitForChart("the preview's chart after the window reload", "latency", 90000);
    const tableAgain = await tableState(again.frame, "table");
    if (!tableAgain || tableAgain.rows.length !== 3) throw new Error(`e2e: after reload the preview's table is ${JSON.stringify(tableAgain)}`);
    await shot("after-reload");
    const serversAfter = lspPids().filter((p) => !serversBefore.includes(p));
    if (serversAfter.length === 0) throw new Error(`e2e: after the reload no new databook lsp process runs (before: ${serversBefore})`);
    pass(`after a window reload the preview shows the chart (${again.state.drawn} drawn pixels) and the table again, from a new server process (pid ${serversAfter.join(", ")}; before: ${serversBefore.join(", ")}) and the store in .databook/`);

    // A crashed server is started again, and the user told.
    const victim = lspPids()[0];
    lastDeliberateKill = Date.now();
    process.kill(victim, "SIGKILL");
    const toast = await until("a notification that the server was restarted", async () => {
      const texts = await page.locator(".notifications-toasts .notification-toast").allTextContents();
      return texts.find((t) => t.includes("stopped unexpectedly and was restarted"));
    }, 30000, 100);
    const replacement = await until("a new databook lsp process after the crash", async () => lspPids().find((p) => p !== victim), 30000, 100);
    await until("the ▶ Run lenses back after the restart", async () => (await page.locator(".codelens-decoration a", { hasText: "▶ Run" }).count()) > 0, 60000, 250);
    await shot("server-restarted");
    await command("Notifications: Clear All Notifications");
    pass(`a killed server (pid ${victim}) is restarted (pid ${replacement}) and the user told: ${JSON.stringify(toast.slice(0, 100))}`);

    // While a cell runs the status bar says so; a click on it cancels the run.
    await focusEditor();
    await goTo("@plugin=http name=slow", 1);
    const runStart = Date.now();
    await page.keyboard.press("Control+Enter");
    const item = page.locator(".statusbar-item", { hasText: "Databook: 1 running" });
    await until("the status bar item \"Databook: 1 running\"", () => item.isVisible(), 10000, 50);
    await shot("status-bar-running");
    await item.click();
    await until("the status bar item to go after the click", async () => !(await item.isVisible()), 10000, 50);
    const cancelledAfter = Date.now() - runStart;
    if (cancelledAfter >= SLOW_MS) throw new Error(`e2e: the slow run ended after ${cancelledAfter} ms, not cancelled before its answer (${SLOW_MS} ms)`);
    await page.waitForTimeout(500);
    const slowBlock = (await visibleText()).includes("slow answer");
    if (slowBlock) throw new Error("e2e: the cancelled run still wrote its answer");
    pass(`the status bar shows "Databook: 1 running" during a slow run; a click cancels it (${cancelledAfter} ms after Ctrl+Enter, its server answers after ${SLOW_MS} ms; the slow server saw ${slow.requests} request(s), ${slow.closedEarly} closed early)`);

    // 10,000 points a series: the preview follows to big.dbk, draws it, and
    // its chart answers hover, drag-to-zoom and double-click.
    await openFile("big.dbk", "# Big");
    await until("the preview to follow big.dbk", async () => {
      const f = await previewFrame();
      return f && (await f.evaluate(() => document.getElementById("title").textContent)) === "big.dbk";
    }, 20000);
    await goTo("@plugin=echo name=big", 1);
    const bigStart = Date.now();
    await page.keyboard.press("Control+Enter");
    const big = await waitForChart(`a chart of 3 series of ${BIG_POINTS} points`, "big", 60000);
    const bigMs = Date.now() - bigStart;
    const bigInfo = await big.frame.evaluate(() => document.querySelector('section[data-kind="chart"] .small').textContent);
    if (!bigInfo.includes(`${3 * BIG_POINTS} points`)) throw new Error(`e2e: the big chart says ${bigInfo}`);
    const over = big.frame.locator('section[data-kind="chart"] .u-over');
    const ob = await over.boundingBox();
    const legendValues = () =>
      big.frame.evaluate(() => [...document.querySelectorAll('section[data-kind="chart"] .u-legend .u-series .u-value')].map((v) => v.textContent));
    await page.mouse.move(ob.x + ob.width * 0.5, ob.y + ob.height * 0.5);
    const hovered = await until("the legend to show values under the mouse", async () => {
      const vs = await legendValues();
      return vs.length === 4 && vs.slice(1).every((v) => v && v !== "–" && v !== "--") ? vs : null;
    }, 10000, 50);
    const range = async () =>
      big.frame.evaluate(() => {
        const c = document.querySelector('section[data-kind="chart"] .chart');
        return [Number(c.dataset.xMin), Number(c.dataset.xMax)];
      });
    const full = await range();
    await page.mouse.move(ob.x + ob.width * 0.3, ob.y + ob.height * 0.5);
    await page.mouse.down();
    await page.mouse.move(ob.x + ob.width * 0.45, ob.y + ob.height * 0.5, { steps: 5 });
    await page.mouse.move(ob.x + ob.width * 0.6, ob.y + ob.height * 0.5, { steps: 5 });
    await page.mouse.up();
    const zoomed = await until("the chart to zoom to the dragged range", async () => {
      const r = await range();
      return r[0] > full[0] && r[1] < full[1] ? r : null;
    }, 10000, 50);
    await shot("big-chart-zoomed");
    await page.mouse.dblclick(ob.x + ob.width * 0.5, ob.y + ob.height * 0.5);
    await until("a double-click to reset the zoom", async () => {
      const r = await range();
      return r[0] === full[0] && r[1] === full[1];
    }, 10000, 50);
    pass(
      `${3 * BIG_POINTS} points drawn ${bigMs} ms after Ctrl+Enter; hover shows ${JSON.stringify(hovered.slice(1))}; ` +
        `drag zooms ${full.join("–")} to ${zoomed.map(Math.round).join("–")}; double-click resets`,
    );
    await openFile("tour.dbk");
    await until("the preview to follow back to tour.dbk", async () => {
      const f = await previewFrame();
      return f && (await f.evaluate(() => document.getElementById("title").textContent)) === "tour.dbk" && (await tableState(f, "table"));
    }, 20000);
    pass("the preview follows the active notebook: big.dbk, then tour.dbk again");

    // A light theme: the preview takes its colours, and the chart is drawn again in them.
    const themeState = async () =>
      (await previewFrame()).evaluate(() => ({
        light: document.body.classList.contains("vscode-light"),
        color: getComputedStyle(document.body).color,
        background: getComputedStyle(document.body).backgroundColor,
        drawnAt: Number(document.querySelector('section[data-kind="chart"] .chart')?.dataset.drawnAt ?? 0),
      }));
    const dark = await themeState();
    await command("Preferences: Color Theme");
    await until("the theme picker to list Light Modern", async () => {
      await page.locator(".quick-input-widget input").fill("Light Modern", { timeout: 2000 });
      return (await page.locator(".quick-input-list .monaco-list-row").allTextContents()).some((t) => t.includes("Light Modern"));
    }, 10000, 200);
    await page.keyboard.press("Enter");
    const light = await until("the preview in the light theme, its chart drawn again", async () => {
      const t = await themeState();
      return t.light && t.color !== dark.color && t.background !== dark.background && t.drawnAt > dark.drawnAt ? t : null;
    }, 20000, 100);
    await shot("light-theme");
    pass(`the preview follows the theme: text ${dark.color} on ${dark.background} in dark, ${light.color} on ${light.background} in light, the chart drawn again`);

    await environments();

    const violations = await (await previewFrame()).evaluate(() => document.body.dataset.cspViolations);
    if (violations !== "0") throw new Error(`e2e: the preview's Content Security Policy blocked ${violations} thing(s)`);
    pass("the preview's Content Security Policy blocked nothing (securitypolicyviolation events: 0)");
    // The workbench logs each error message it shows; the refusal the
    // environments step provokes is the one expected.
    const unexpected = consoleErrors.filter((e) => !e.includes('there is no environment "prod" (did you mean "production"?)'));
    if (unexpected.length > 0) throw new Error(`e2e: the page logged errors:\n${unexpected.join("\n")}`);
    pass("no errors from the preview's frames or naming Databook in the page's console");

    if (BENCH) await bench();
  } finally {
    await browser.close().catch(() => undefined);
    slow.close();
  }
}

/** The text of the preview's section of cell `name`, and its environment badge. */
async function previewCell(name) {
  const frame = await previewFrame();
  return (
    frame &&
    frame.evaluate((name) => {
      const section = [...document.querySelectorAll("section.cell")].find((s) => s.querySelector("h2 a")?.textContent === name);
      if (!section) return null;
      return {
        text: section.textContent,
        status: section.querySelector(".badge.status")?.textContent ?? null,
        environment: section.querySelector(".badge.environment")?.textContent ?? null,
      };
    }, name)
  );
}

/** Picks `label` in the open quick pick, with a click on its row; answers the labels it offered. */
async function pickRow(label) {
  const { row, labels } = await quickPickRow(label);
  await row.click();
  return labels;
}

/** The row `label` of the open quick pick, and the labels of all its rows. */
async function quickPickRow(label) {
  const row = await until(`the quick pick to list ${JSON.stringify(label)}`, async () => {
    const rows = page.locator(".quick-input-widget .quick-input-list .monaco-list-row");
    const n = await rows.count();
    for (let i = 0; i < n; i++) {
      const text = await rows.nth(i).locator(".label-name").first().textContent().catch(() => null);
      if (text?.replace(/\u00a0/g, " ").trim() === label) return rows.nth(i);
    }
    return null;
  }, 10000, 50);
  const labels = (await page.locator(".quick-input-widget .quick-input-list .monaco-list-row .label-name").allTextContents()).map((t) => t.trim());
  return { row, labels };
}

/**
 * Environments: the status bar item names the current one; a click on it
 * opens a quick pick whose choice the server applies to the next run, whose
 * result the preview says ran in it.
 */
async function environments() {
  await openFile("envy.dbk", "@plugin=envy name=target");
  const none = page.locator(".statusbar-item", { hasText: "Databook: no environment" });
  await until('the status bar item "Databook: no environment"', () => none.isVisible(), 20000, 50);

  // First without an environment: [env] alone.
  await goTo("@plugin=envy name=target", 1);
  await page.keyboard.press("Control+Enter");
  await until('the output block > Some("base")', async () => (await visibleText()).includes('> Some("base")'), 30000, 50);
  const baseCell = await until("the preview to show the target cell's base result", async () => {
    const c = await previewCell("target");
    return c && c.text.includes('Some("base")') ? c : null;
  }, 20000, 100);
  if (baseCell.environment !== null) throw new Error(`e2e: a run without an environment has the preview badge ${JSON.stringify(baseCell.environment)}`);

  await none.click();
  const offered = await pickRow("staging");
  if (offered.join(",") !== "prod,staging,(none)") throw new Error(`e2e: the environment quick pick offers ${JSON.stringify(offered)}, not prod, staging, (none)`);
  const staging = page.locator(".statusbar-item", { hasText: "Databook: staging" });
  await until('the status bar item "Databook: staging"', () => staging.isVisible(), 10000, 50);

  await goTo("@plugin=envy name=target", 1);
  await page.keyboard.press("Control+Enter");
  await until('the output block > Some("staging value")', async () => {
    const t = await visibleText();
    return t.includes('> Some("staging value")') && !t.includes('> Some("base")');
  }, 30000, 50);
  const stagingCell = await until('the preview to show the staging result with the badge "env staging"', async () => {
    const c = await previewCell("target");
    return c && c.text.includes('Some("staging value")') && c.environment === "env staging" ? c : null;
  }, 20000, 100);
  await shot("environment-staging");
  pass(
    `environments: the status bar said "Databook: no environment" and the cell gave Some("base"); a click on it offered ${offered.join(", ")}; ` +
      `after picking staging it says "Databook: staging", the cell gives Some("staging value"), and the preview's heading reads ${JSON.stringify(`${stagingCell.status} … ${stagingCell.environment}`)}`,
  );

  // Back to none, through the palette command.
  await command("Databook: Select Environment");
  await pickRow("(none)");
  await until('the status bar item "Databook: no environment" again', () => none.isVisible(), 10000, 50);
  if (await staging.isVisible()) throw new Error('e2e: the status bar still says "Databook: staging" after picking (none)');
  pass('Databook: Select Environment from the palette, then (none): the status bar says "Databook: no environment" again');

  // A name the server does not know is refused, with its message shown. The
  // server reads databook.toml when it starts, so the environment prod is
  // renamed while the quick pick is open and the server is started again
  // (killed; the extension restarts it) before prod is picked.
  await none.click();
  const { row: prod } = await quickPickRow("prod");
  const toml = join(workspace, "databook.toml");
  writeFileSync(toml, readFileSync(toml, "utf8").replace("[environments.prod]", "[environments.production]"));
  const victim = lspPids()[0];
  if (!victim) throw new Error("e2e: no databook lsp process to restart");
  lastDeliberateKill = Date.now();
  process.kill(victim, "SIGKILL");
  const replacement = await until("a new databook lsp process after the kill", async () => lspPids().find((p) => p !== victim), 30000, 100);
  await until("the ▶ Run lens back after the restart", async () => (await page.locator(".codelens-decoration a", { hasText: "▶ Run" }).count()) > 0, 60000, 250);
  if (!(await prod.isVisible())) throw new Error("e2e: the environment quick pick closed while the server restarted");
  await prod.click();
  const refusal = await until("a notification that the server refused the environment prod", async () => {
    const texts = await page.locator(".notifications-toasts .notification-toast").allTextContents();
    return texts.find((t) => t.includes('there is no environment "prod"'));
  }, 15000, 100);
  if (!refusal.includes('did you mean "production"?')) throw new Error(`e2e: the refusal does not name the closest environment: ${refusal}`);
  await shot("environment-refused");
  await until('the status bar item "Databook: no environment" after the refusal', () => none.isVisible(), 10000, 50);
  await command("Notifications: Clear All Notifications");
  pass(`picking an environment the server (restarted, pid ${replacement}) no longer has shows its refusal: ${JSON.stringify(refusal.slice(refusal.indexOf("there is no environment"), refusal.indexOf("?") + 2))}; the status bar still says "Databook: no environment"`);

  await openFile("tour.dbk");
}

async function bench() {
  await until("tour.dbk in the editor after the reload", async () => (await visibleText()).length > 0, 30000);
  // Focus the editor: click into its text.
  await focusEditor();
  const toBlock = [];
  for (let i = 0; i < TRIES; i++) {
    await goTo("@plugin=echo name=hello", 1);
    await command("Databook: Clear Cell Output");
    await until("the hello cell's output block to be cleared", async () => !(await visibleText()).includes("> Hello from a cell."), 15000, 50);
    const t0 = Date.now();
    await page.keyboard.press("Control+Enter");
    await page.waitForFunction(
      () => [...document.querySelectorAll(".editor-instance .view-line")].some((l) => l.textContent.replace(/\u00a0/g, " ").startsWith("> Hello from a cell.")),
      undefined,
      { timeout: 30000, polling: 5 },
    );
    toBlock.push(Date.now() - t0);
  }
  const toChart = [];
  const keyToChart = [];
  for (let i = 0; i < TRIES; i++) {
    await goTo("@plugin=echo name=latency", 1);
    const frame = await previewFrame();
    const before = await chartState(frame, "latency");
    const t0 = Date.now();
    await page.keyboard.press("Control+Enter");
    const after = await until("the latency chart drawn again", async () => {
      const s = await chartState(await previewFrame(), "latency");
      return s && s.receivedAt > (before?.receivedAt ?? 0) && s.drawnAt >= s.receivedAt && s.drawn > 500 ? s : null;
    }, 30000, 5);
    keyToChart.push(Date.now() - t0);
    toChart.push(after.drawnAt - after.receivedAt);
  }
  await shot("bench-done");
  console.log(`bench: Ctrl+Enter to output block visible (echo cell, ${TRIES} tries): p50 ${percentile(toBlock, 50)} ms, min ${Math.min(...toBlock)} ms, max ${Math.max(...toBlock)} ms`);
  console.log(`bench: databook/output received to chart drawn (latency cell, ${TRIES} tries): p50 ${percentile(toChart, 50)} ms, min ${Math.min(...toChart)} ms, max ${Math.max(...toChart)} ms`);
  console.log(`bench: Ctrl+Enter to chart drawn (latency cell, ${TRIES} tries): p50 ${percentile(keyToChart, 50)} ms, min ${Math.min(...keyToChart)} ms, max ${Math.max(...keyToChart)} ms`);
}

try {
  await main();
  console.log(`e2e: ${passed.length} passed, 0 failed`);
  console.log(`e2e: screenshots in ${shots}`);
} catch (e) {
  console.error(`e2e: FAILED: ${e instanceof Error ? e.stack : e}`);
  console.log(`e2e: ${passed.length} passed, 1 failed`);
  console.log(`e2e: screenshots in ${shots}; code-server's log in ${root}/code-server.log`);
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  stopCodeServer();
  // The installed extension (with its server binary) is large; the rest is
  // kept after a failure, for looking into. Screenshots and the log stay.
  rmSync(extensions, { recursive: true, force: true });
  if (!process.exitCode) {
    rmSync(userData, { recursive: true, force: true });
    rmSync(workspace, { recursive: true, force: true });
  }
}
