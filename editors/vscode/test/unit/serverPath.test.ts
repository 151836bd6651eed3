// Finding the server binary: setting, then the bundled binary, then PATH.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { findServer } from "../../src/serverPath";

function fakeBinary(dir: string, mode = 0o755): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "databook");
  fs.writeFileSync(file, "#!/bin/sh\n");
  fs.chmodSync(file, mode);
  return file;
}

test("the setting, then the bundled binary, then PATH", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "databook-server-"));
  try {
    const ext = path.join(root, "ext");
    const onPath = fakeBinary(path.join(root, "bin"));
    const configured = fakeBinary(path.join(root, "custom"));
    const envPath = [path.join(root, "nothing"), path.join(root, "bin")].join(path.delimiter);

    assert.deepEqual(findServer("", ext, envPath), { found: true, path: onPath, source: "PATH" });
    const bundled = fakeBinary(path.join(ext, "server"));
    assert.deepEqual(findServer(undefined, ext, envPath), { found: true, path: bundled, source: "bundled" });
    assert.deepEqual(findServer(configured, ext, envPath), { found: true, path: configured, source: "setting" });

    const missing = findServer(path.join(root, "nope"), ext, envPath);
    assert.equal(missing.found, false);
    if (!missing.found) assert.match(missing.message, /`databook.server.path` is set to ".*nope", which is not an executable file/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("a file that is not executable is passed over, and none found says how to get one", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "databook-server-"));
  try {
    fakeBinary(path.join(root, "bin"), 0o644);
    const r = findServer("", path.join(root, "ext"), path.join(root, "bin"));
    assert.equal(r.found, false);
    if (!r.found) {
      assert.match(r.message, /was not found/);
      assert.match(r.message, /databook\.server\.path/);
      assert.match(r.message, /PATH/);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
