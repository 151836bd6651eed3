#!/usr/bin/env bash
# CI for the VS Code extension: install, build, unit tests, package, the
# end-to-end test in code-server, and the page `databook export` writes,
# opened offline in Chromium. Takes the databook binary from $DATABOOK,
# else $HOME/.cache/databook-target/debug/databook. Node 24, code-server and
# Chromium are installed by test/e2e/setup.sh and cached under
# $HOME/.cache/databook-vscode, so a second run downloads nothing.
set -euo pipefail
cd "$(dirname "$0")"
export DATABOOK="${DATABOOK:-$HOME/.cache/databook-target/debug/databook}"

echo "== vscode: npm ci"
npm ci --no-audit --no-fund
echo "== vscode: build"
npm run build
echo "== vscode: unit tests"
npm test
echo "== vscode: package"
npm run package
echo "== vscode: end-to-end"
npm run e2e
echo "== vscode: exported page"
npm run test:export
