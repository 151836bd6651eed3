#!/usr/bin/env bash
# Runs every editor's end-to-end tests against one databook binary: VS Code
# (code-server in headless Chromium), Neovim (0.7.2 and a current one,
# headless) and Helix (hx in tmux). Each editor's script installs what it
# needs (as root: apt, npm, pip), cached under $HOME/.cache.
#
# usage: editors/test.sh [vscode|neovim|helix ...]   (default: all three)
#   DATABOOK=PATH tests that binary (default: the debug build that
#   `cargo test --workspace` made, under CARGO_TARGET_DIR or ./target).
# Prints each suite's "N passed, N failed", then the total as its last line;
# exits non-zero if any suite failed.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="${CARGO_TARGET_DIR:-$here/../target}"
export DATABOOK="${DATABOOK:-$target/debug/databook}"
if [ ! -x "$DATABOOK" ]; then
    echo "no databook binary at $DATABOOK: run cargo test --workspace (or cargo build) first, or set DATABOOK" >&2
    exit 2
fi

declare -A suites=(
    [vscode]="$here/vscode/ci.sh"
    [neovim]="$here/neovim/test/run.sh"
    [helix]="$here/helix/test/run.sh"
)
chosen=("$@")
((${#chosen[@]})) || chosen=(vscode neovim helix)

passed=0 failed=0 broken=()
for name in "${chosen[@]}"; do
    script="${suites[$name]:-}"
    if [ -z "$script" ]; then
        echo "unknown editor $name (vscode, neovim or helix)" >&2
        exit 2
    fi
    echo; echo "==> editor: $name"
    out="$(mktemp)"
    bash "$script" 2>&1 | tee "$out"
    status=${PIPESTATUS[0]}
    # Each suite closes each of its runs with "N passed, N failed" (after
    # a one-word label such as "e2e:"); node's test runner, with TAP's
    # "# pass N" and "# fail N".
    read -r p f < <(awk '
        match($0, /^([A-Za-z0-9_.-]+: )?[0-9]+ passed, [0-9]+ failed/) {
            line = substr($0, RSTART, RLENGTH); sub(/^[A-Za-z0-9_.-]+: /, "", line)
            split(line, n, " "); p += n[1]; f += n[3]
        }
        /^# pass [0-9]+$/ { p += $3 }
        /^# fail [0-9]+$/ { f += $3 }
        END { print p + 0, f + 0 }' "$out")
    rm -f "$out"
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$status" -ne 0 ] || [ "$p" -eq 0 ]; then
        broken+=("$name")
        # A suite that died before counting anything still counts as a failure.
        [ "$f" -eq 0 ] && failed=$((failed + 1))
    fi
done
echo
((${#broken[@]})) && echo "failed: ${broken[*]}"
echo "editors: $passed passed, $failed failed"
((${#broken[@]} == 0))
