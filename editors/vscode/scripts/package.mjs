// Packages the extension as a .vsix with @vscode/vsce. With a databook
// binary ($DATABOOK, else the default build path, or --server PATH) it makes
// a platform .vsix for linux-x64 carrying the binary in server/databook, as
// rust-analyzer's does; with --no-server, a universal one without it.
// Prints the .vsix's path on its last line.
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const pkg = JSON.parse(readFileSync(join(here, "package.json"), "utf8"));

let server = null;
if (!args.includes("--no-server")) {
  const i = args.indexOf("--server");
  server = i >= 0 ? args[i + 1] : process.env.DATABOOK || join(homedir(), ".cache/databook-target/debug/databook");
  if (!existsSync(server)) {
    console.error(`package: no databook binary at ${server}. Build it (cargo build -p databook), set DATABOOK, or pass --no-server for a .vsix without it.`);
    process.exit(1);
  }
}

const serverDir = join(here, "server");
rmSync(serverDir, { recursive: true, force: true });
let out;
const vsce = [join(here, "node_modules/@vscode/vsce/vsce"), "package", "--no-dependencies", "--skip-license", "--allow-missing-repository", "--no-rewrite-relative-links"];
try {
  if (server) {
    mkdirSync(serverDir);
    const target = join(serverDir, "databook");
    // A debug build is hundreds of megabytes, mostly debug info; a stripped
    // copy packs in seconds instead of minutes and runs the same.
    const size = statSync(server).size;
    if (size > 50 * 1024 * 1024) {
      execFileSync("strip", ["-o", target, server]);
      console.error(`package: ${server} (${(size / 1048576).toFixed(0)} MB) stripped to ${(statSync(target).size / 1048576).toFixed(0)} MB`);
    } else {
      copyFileSync(server, target);
    }
    chmodSync(target, 0o755);
    out = join(here, `databook-linux-x64-${pkg.version}.vsix`);
    execFileSync(process.execPath, [...vsce, "--target", "linux-x64", "-o", out], { cwd: here, stdio: ["ignore", process.stderr, "inherit"] });
  } else {
    out = join(here, `databook-${pkg.version}.vsix`);
    execFileSync(process.execPath, [...vsce, "-o", out], { cwd: here, stdio: ["ignore", process.stderr, "inherit"] });
  }
} finally {
  rmSync(serverDir, { recursive: true, force: true });
}
console.log(out);
