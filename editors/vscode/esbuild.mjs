// Bundles the extension (Node, CommonJS, `vscode` external), the preview's
// webview script and style (browser; uPlot and its CSS bundled in, so the
// preview needs no CDN), and with --tests the unit tests for `node --test`.
// With --export, the script and style of the page `databook export` writes,
// into server/assets/ (committed, so that building databook needs no Node);
// with --check-export, fails when those committed files are not what this
// source builds.
import * as esbuild from "esbuild";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const args = new Set(process.argv.slice(2));
const production = args.has("--production");
const watch = args.has("--watch");

const common = {
  bundle: true,
  sourcemap: !production,
  minify: production,
  logLevel: "warning",
};

// The exported page's bundle. Its options are fixed (no source map, always
// minified) so that the same source always gives the same bytes.
const assets = join(dirname(fileURLToPath(import.meta.url)), "../../server/assets");
const exportBuild = {
  bundle: true,
  entryPoints: { export: "src/export/page.ts" },
  outdir: assets,
  platform: "browser",
  format: "iife",
  target: "es2020",
  minify: true,
  sourcemap: false,
  legalComments: "eof",
  logLevel: "warning",
  write: false,
};

if (args.has("--export") || args.has("--check-export")) {
  const result = await esbuild.build(exportBuild);
  const stale = [];
  for (const file of result.outputFiles) {
    if (args.has("--export")) {
      mkdirSync(dirname(file.path), { recursive: true });
      writeFileSync(file.path, file.contents);
      console.log(`wrote ${file.path} (${file.contents.length} bytes)`);
    } else if (!existsSync(file.path) || !readFileSync(file.path).equals(Buffer.from(file.contents))) {
      stale.push(basename(file.path));
    }
  }
  if (stale.length > 0) {
    console.error(
      `server/assets/${stale.join(", server/assets/")} ${stale.length === 1 ? "is" : "are"} not what src/export builds: ` +
        "run `npm run build:export` in editors/vscode and commit the result.",
    );
    process.exit(1);
  }
  if (args.has("--check-export")) console.log("server/assets/export.{js,css} are current");
  process.exit(0);
}

const builds = [];
if (args.has("--tests")) {
  rmSync("dist-test", { recursive: true, force: true });
  const entryPoints = readdirSync("test/unit")
    .filter((f) => f.endsWith(".test.ts"))
    .map((f) => `test/unit/${f}`);
  builds.push({ ...common, entryPoints, outdir: "dist-test", platform: "node", format: "esm", outExtension: { ".js": ".mjs" } });
} else {
  builds.push(
    {
      ...common,
      entryPoints: ["src/extension.ts"],
      outfile: "dist/extension.js",
      platform: "node",
      format: "cjs",
      target: "node18",
      external: ["vscode"],
    },
    {
      ...common,
      entryPoints: { webview: "src/preview/webview.ts" },
      outdir: "dist",
      platform: "browser",
      format: "iife",
      target: "es2020",
    },
  );
}

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
