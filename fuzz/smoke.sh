#!/usr/bin/env bash
# A short run of every fuzz target: each for N seconds (the first argument,
# 15 by default), one after another, one process each. Prints one "test"
# line per target and "fuzz: N passed, N failed"; exits non-zero when a
# target crashed (a panic, a timeout, too much memory) or did not build.
# FUZZ_TARGETS="parse render" runs only those (CI runs the notebook's
# three: the host targets link wasmtime, whose fuzz build takes half an
# hour on a cold machine).
#
# Installs what it needs when missing: a nightly toolchain (the project
# itself stays on stable) and cargo-fuzz (from crates.io, into
# ~/.cache/databook-fuzz-tools). Builds into $CARGO_TARGET_DIR, by default
# ~/.cache/databook-fuzz-target, outside the repository. Each target starts from its corpus in fuzz/corpus/ (made by
# earlier runs, never committed) and replays fuzz/regressions/<target>/
# first, so that every crash found once is tried again on every run.
#
#   fuzz/smoke.sh          # 15 s a target
#   fuzz/smoke.sh 600      # the 10-minute runs of RELIABILITY.md
set -uo pipefail

seconds="${1:-15}"
read -r -a targets <<<"${FUZZ_TARGETS:-parse incremental_parse render config lsp}"
host=()
for target in "${targets[@]}"; do
    case "$target" in
        config | lsp) host=(--features host) ;;
        parse | incremental_parse | render) ;;
        *)
            echo "no fuzz target named $target" >&2
            exit 2
            ;;
    esac
done
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/databook-fuzz-target}"

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
tools="$HOME/.cache/databook-fuzz-tools"
export PATH="$tools/bin:$PATH"
if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked --root "$tools"
fi

# No sanitizer: the code under test is safe Rust, so what is looked for is
# panics, hangs and memory growth, and a build without one is several
# times faster (wasmtime is part of the `host` targets). Several codegen
# units for the same reason.
build=(cargo +nightly fuzz build -s none --codegen-units 16 "${host[@]}")
if ! "${build[@]}"; then
    echo "test build ... FAILED"
    echo "fuzz: 0 passed, ${#targets[@]} failed"
    exit 1
fi

bin="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"
passed=0
failed=0
for target in "${targets[@]}"; do
    # Absolute paths: the lsp target works in a folder of its own.
    mkdir -p "$here/corpus/$target" "$here/artifacts/$target"
    seeds=()
    [ -d "$here/regressions/$target" ] && seeds=("$here/regressions/$target")
    log="artifacts/$target/smoke.log"
    # An lsp input is a whole session: long ones from the start, rather
    # than libFuzzer's slowly growing length limit.
    extra=()
    [ "$target" = lsp ] && extra=(-len_control=0 -max_len=8192)
    # -timeout: one input of the lsp target may wait for runs to be
    # cancelled; anything near a minute is a hang.
    if "$bin/$target" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 \
        -print_final_stats=1 "${extra[@]}" -artifact_prefix="$here/artifacts/$target/" \
        "$here/corpus/$target" "${seeds[@]}" >"$log" 2>&1; then
        runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')"
        echo "test $target ... ok (${runs:-?} runs in ${seconds} s)"
        passed=$((passed + 1))
    else
        echo "test $target ... FAILED (log: fuzz/$log)"
        # What crashed and where: the panic message and the saved input.
        grep -E "panicked at|Test unit written|ERROR: libFuzzer" -A3 "$log" | head -30
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
