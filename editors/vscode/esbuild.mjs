// Bundles the extension (Node, CommonJS, `vscode` external), the preview's
// webview script and style (browser; uPlot and its CSS bundled in, so the
// preview needs no CDN), and with --tests the unit tests for `node --test`.
import * as esbuild from "esbuild";
import { readdirSync, rmSync } from "node:fs";

const args = new Set(process.argv.slice(2));
const production = args.has("--production");
const watch = args.has("--watch");

const common = {
  bundle: true,
  sourcemap: !production,
  minify: production,
  logLevel: "warning",
};

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
