#!/usr/bin/env bash
# End-to-end test of the extension in real VS Code (code-server), driven by
# Playwright through Debian's Chromium. Installs what it needs (cached under
# $HOME/.cache/databook-vscode), packages the .vsix with the databook binary
# ($DATABOOK, else $HOME/.cache/databook-target/debug/databook) and runs
# test/e2e/run.mjs. Screenshots go to the folder it prints.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$here"

DATABOOK="${DATABOOK:-$HOME/.cache/databook-target/debug/databook}"
if [ ! -x "$DATABOOK" ]; then
  echo "e2e: no databook binary at $DATABOOK (build it with cargo build -p databook, or set DATABOOK)" >&2
  exit 1
fi
export DATABOOK

setup_out="$(bash test/e2e/setup.sh)"
NODE24="$(printf '%s\n' "$setup_out" | sed -n 's/^NODE24=//p')"
CODE_SERVER="$(printf '%s\n' "$setup_out" | sed -n 's/^CODE_SERVER=//p')"
export NODE24 CODE_SERVER

[ -d node_modules ] || npm ci --no-audit --no-fund
vsix="$(node esbuild.mjs --production && node scripts/package.mjs | tail -n 1)"
export VSIX="$vsix"

# code-server and its extension host run on Node 24, first on PATH.
export PATH="$(dirname "$NODE24"):$PATH"
exec "$NODE24" test/e2e/run.mjs "$@"
