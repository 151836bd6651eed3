#!/usr/bin/env bash
# Builds every plugin in this folder for wasm32-wasip2 and writes each one's
# component to plugins/<path>/plugin.wasm, next to its config.toml.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "error: the wasm32-wasip2 target is not installed; run: rustup target add wasm32-wasip2" >&2
    exit 2
fi

target_dir="${CARGO_TARGET_DIR:-$here/target}"
cargo build --manifest-path "$here/Cargo.toml" --target wasm32-wasip2 --release \
    --target-dir "$target_dir" "$@"

# Each workspace member is a folder with a config.toml; its crate name is the
# last part of its path.
for config in "$here"/*/config.toml "$here"/testing/*/config.toml; do
    dir="$(dirname "$config")"
    name="$(basename "$dir")"
    built="$target_dir/wasm32-wasip2/release/${name//-/_}.wasm"
    if [[ -f "$built" ]]; then
        cp "$built" "$dir/plugin.wasm"
        echo "built $(realpath --relative-to="$here/.." "$dir/plugin.wasm") ($(stat -c %s "$dir/plugin.wasm") bytes)"
    fi
done
