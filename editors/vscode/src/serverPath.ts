// Where the `databook` binary is found: the `databook.server.path` setting
// when set, else the binary a platform .vsix carries in `server/`, else
// `databook` on PATH. No `vscode` import, so the unit tests can run it.
import * as fs from "node:fs";
import * as path from "node:path";

export type ServerLookup =
  | { found: true; path: string; source: "setting" | "bundled" | "PATH" }
  | { found: false; message: string };

function isExecutable(file: string): boolean {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) return false;
    if (process.platform === "win32") return true;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const exe = process.platform === "win32" ? "databook.exe" : "databook";

/** The message shown when no server is found: one message, saying how to get one. */
export const NOT_FOUND =
  "Databook: the language server (`databook`) was not found. " +
  "Install the Databook extension for your platform (its .vsix carries the server), " +
  "or set `databook.server.path` to a `databook` binary, " +
  "or put `databook` on PATH (build it with `cargo build --release -p databook` in the Databook repository).";

export function findServer(setting: string | undefined, extensionDir: string, envPath: string | undefined): ServerLookup {
  const configured = (setting ?? "").trim();
  if (configured !== "") {
    // A setting that names nothing is an error of its own, not a reason to
    // quietly run some other binary.
    if (isExecutable(configured)) return { found: true, path: configured, source: "setting" };
    return {
      found: false,
      message: `Databook: \`databook.server.path\` is set to ${JSON.stringify(configured)}, which is not an executable file. Fix the setting, or clear it to use the bundled server or \`databook\` on PATH.`,
    };
  }
  const bundled = path.join(extensionDir, "server", exe);
  if (isExecutable(bundled)) return { found: true, path: bundled, source: "bundled" };
  for (const dir of (envPath ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    const candidate = path.join(dir, exe);
    if (isExecutable(candidate)) return { found: true, path: candidate, source: "PATH" };
  }
  return { found: false, message: NOT_FOUND };
}
