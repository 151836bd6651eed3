#!/usr/bin/env bash
# End-to-end test of editors/helix/languages.toml in the real Helix editor.
#
# Drives `hx` (Helix 25.07.1, built from source by the shared build script and
# cached under $HOME/.cache) inside a private tmux server: keys go in with
# `tmux send-keys`, the screen comes back with `tmux capture-pane`. Helix gets
# exactly our languages.toml (as its user configuration, in a scratch
# XDG_CONFIG_HOME) and finds `databook` on PATH, which is the binary under
# test: $DATABOOK, else $HOME/.cache/databook-target/debug/databook.
#
# usage: editors/helix/test/run.sh
#   KEEP=1 keeps the scratch folder (its path is printed) for a look at Helix's
#   log (cache/helix/helix.log) and the notebook after a failure.
#   SCREENS=DIR saves the screens the checks matched, as text, into DIR (the
#   README's pictures come from there).
#   WAIT_LIMIT=N waits at most N seconds for each thing awaited (default 20),
#   START_LIMIT=N for the first diagnostics, while the server starts (60).
#   HELIX_BUILD_SH=FILE names the Helix build script (default
#   ../shared/tools/helix/build.sh beside the repository).
# Prints "N passed, N failed" and exits non-zero if anything failed.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
databook="${DATABOOK:-$HOME/.cache/databook-target/debug/databook}"
build_sh="${HELIX_BUILD_SH:-$repo/../shared/tools/helix/build.sh}"
wait_limit="${WAIT_LIMIT:-20}"
# The first diagnostics wait for the server to load its plugins (compiled at
# start-up: about 12 s for a debug build on a busy 2-core machine).
start_limit="${START_LIMIT:-60}"

die() { echo "error: $*" >&2; exit 2; }

[ -x "$databook" ] || die "no databook binary at $databook (set DATABOOK, or build it with cargo build -p databook)"
databook="$(cd "$(dirname "$databook")" && pwd)/$(basename "$databook")"

# Debian's tmux, installed on a fresh machine (CI runs as root).
if ! command -v tmux >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || die "tmux is missing; install it (apt-get install tmux)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tmux; } >&2 ||
    die "could not install tmux with apt-get"
fi

# Helix, built once and cached; the script prints HX=... and HELIX_RUNTIME=...
[ -f "$build_sh" ] || die "no Helix build script at $build_sh (set HELIX_BUILD_SH)"
# Without CARGO_TARGET_DIR (CI sets it for databook): the script looks for
# hx in its own cache folder, so cargo must build it there.
helix_env="$(env -u CARGO_TARGET_DIR bash "$build_sh")" || die "the Helix build failed ($build_sh)"
eval "$helix_env"
[ -x "${HX:-}" ] || die "the Helix build script gave no hx binary"
[ -d "${HELIX_RUNTIME:-}" ] || die "the Helix build script gave no runtime folder"

scratch="$(mktemp -d /tmp/databook-helix-test.XXXXXX)"
# A tmux server of our own (its own socket), so no other session is touched.
sock="databook-helix-test-$$"
cleanup() {
  tmux -L "$sock" kill-server >/dev/null 2>&1
  if [ -n "${KEEP:-}" ]; then echo "scratch folder kept: $scratch"; else rm -rf "$scratch"; fi
}
trap cleanup EXIT

# The user configuration Helix reads: our languages.toml, byte for byte, and
# nothing else (no config.toml, so every key and option is Helix's default).
mkdir -p "$scratch/config/helix" "$scratch/home" "$scratch/cache" "$scratch/bin" "$scratch/ws"
cp "$repo/editors/helix/languages.toml" "$scratch/config/helix/languages.toml"
# `command = "databook"` resolves through PATH to the binary under test.
ln -s "$databook" "$scratch/bin/databook"

# The notebook: a copy of the tour, with three cells added at the end: one
# with a misspelled plugin, one that has never run (its output must be
# written by the run), and one whose result is longer than the 40 lines an
# output block keeps in the file (hover must show all of it).
token="helix-$$-$RANDOM"
nb="$scratch/ws/tour.dbk"
cp "$repo/examples/tour.dbk" "$nb"
# databook.toml marks the workspace root (the languages.toml `roots`); it
# defines one environment, which step 11 picks.
printf '[environments.staging]\nTARGET = "staging"\n' > "$scratch/ws/databook.toml"
cat >> "$nb" <<EOF

## Added by the Helix test

@plugin=ecoh name=typo
This cell names a plugin that does not exist.
@end

@plugin=echo name=fresh
Hello from Helix, run $token.
@end

@plugin=jq name=many
[range(1; 61) | "item \\(.)"]
@end
EOF

passed=0
failed=0
# Each result says when it came, in seconds from the start of the checks.
start_time=$SECONDS
pass() { passed=$((passed + 1)); echo "ok: $1 (at $((SECONDS - start_time)) s)"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1 (at $((SECONDS - start_time)) s)"; }

tm() { tmux -L "$sock" "$@"; }
screen() { tm capture-pane -p -t hx 2>/dev/null; }
# The screen with its colours, to tell which menu item is selected.
screen_styled() { tm capture-pane -p -e -t hx 2>/dev/null; }
# A short pause after each key, so that Helix reads an Escape on its own and
# not as Alt with the next key.
keys() { tm send-keys -t hx "$@"; sleep 0.15; }
text() { tm send-keys -t hx -l "$1"; sleep 0.15; }
last_screen=""
show() { sed 's/^/  | /'; }

# save_screen NAME: keeps the last screen read, when SCREENS is set.
save_screen() {
  if [ -n "${SCREENS:-}" ]; then
    mkdir -p "$SCREENS" && printf '%s\n' "$last_screen" > "$SCREENS/$1.txt"
  fi
}

# wait_screen WHAT REGEX: polls the screen until REGEX (grep -E) shows, for
# at most $wait_limit seconds; on time-out prints the last screen.
wait_screen() {
  local what="$1" pattern="$2" deadline=$((SECONDS + wait_limit))
  while :; do
    last_screen="$(screen)"
    if grep -qE -- "$pattern" <<<"$last_screen"; then return 0; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "timed out after ${wait_limit}s waiting for $what (/$pattern/ on screen); last screen:"
      show <<<"$last_screen"
      return 1
    fi
    sleep 0.2
  done
}

# Back to normal mode with nothing open over the document.
normal() { keys Escape; keys Escape; }
# goto_line N: the cursor to the start of line N, and that line to the top of
# the view (z t), so that a popup under it has room.
goto_line() { normal; text ":goto $1"; keys Enter; keys z; keys t; }
write() { normal; text ":w"; keys Enter; }

# save_until WHAT CHECK: writes the buffer (:w) and runs the shell function
# CHECK on the file, again and again (runs go on after a command returns)
# until it succeeds, for at most $wait_limit seconds.
save_until() {
  local what="$1" check="$2" deadline=$((SECONDS + wait_limit))
  while :; do
    write
    sleep 0.3
    if "$check"; then return 0; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "timed out after ${wait_limit}s waiting for $what in the file after :w; the file from line $((fresh_line - 10)):"
      tail -n "+$((fresh_line - 10))" "$nb" | show
      echo "last screen:"
      screen | show
      return 1
    fi
  done
}

# The line number (from 1) of the first line of the notebook on disk that
# is exactly $1.
line_of() { awk -v want="$1" '$0 == want { print NR; exit }' "$nb"; }

# selected_is TITLE: whether the menu item TITLE is drawn in the selected
# item's colours (Helix's default theme, ui.menu.selected: a white
# background; truecolor, as COLORTERM says below).
selected_is() {
  local line style
  local esc=$'\e'
  line="$(screen_styled | grep -E -- " $1( |$esc|$)" | head -n 1)"
  # The last colour change before the title is the item's own.
  style="$(sed -E "s/.*($esc\[[0-9;]*m)[^$esc]* $1( |$esc|$).*/\1/" <<<"$line")"
  [[ "$style" == *"48;2;255;255;255"* ]]
}

# choose_action TITLE: opens the code actions menu (space a) and picks TITLE,
# moving down from the pre-selected first item until TITLE is the selected
# one.
choose_action() {
  local title="$1" tries
  keys Space
  keys a
  # (capture-pane drops trailing spaces: the widest item ends its line)
  wait_screen "the code actions menu to list \`$title\`" " $title( |$)" || return 1
  save_screen "menu-${title// /-}"
  for tries in 1 2 3 4 5 6 7 8; do
    if selected_is "$title"; then
      keys Enter
      return 0
    fi
    keys Down
  done
  echo "could not select \`$title\` in the code actions menu; last screen:"
  screen | show
  return 1
}

# 0. Helix reads our languages.toml and finds the server on PATH.
health="$(cd "$scratch/ws" && env -i HOME="$scratch/home" XDG_CONFIG_HOME="$scratch/config" \
  PATH="$scratch/bin:/usr/bin:/bin" HELIX_RUNTIME="$HELIX_RUNTIME" TERM=dumb \
  "$HX" --health dbk 2>&1 | sed 's/\x1b\[[0-9;]*m//g')"
if grep -qF "✓ databook: $scratch/bin/databook" <<<"$health"; then
  pass "hx --health dbk finds the databook language server"
else
  fail "hx --health dbk finds the databook language server; it printed:"
  show <<<"$health"
fi

# start_hx: Helix on the notebook, in a fixed window size, so that the
# screens are the same on every machine, and in a clean environment, so that
# nothing of the caller's setup leaks in.
start_hx() {
  tm -f /dev/null new-session -d -s hx -x 160 -y 50 -c "$scratch/ws" \
    env -i \
    HOME="$scratch/home" \
    XDG_CONFIG_HOME="$scratch/config" \
    XDG_CACHE_HOME="$scratch/cache" \
    XDG_DATA_HOME="$scratch/home/.local/share" \
    PATH="$scratch/bin:/usr/bin:/bin" \
    TERM=xterm-256color COLORTERM=truecolor LANG=C.UTF-8 \
    HELIX_RUNTIME="$HELIX_RUNTIME" \
    "$HX" -v "$nb" ||
    die "could not start hx in tmux"
  tm set-option -t hx status off >/dev/null
}
start_hx

if wait_screen "Helix to show the notebook" "tour\.dbk"; then
  pass "hx opens the notebook"
else
  fail "hx opens the notebook"
fi

# 1. The misspelled plugin is reported: the diagnostics picker (space d)
# lists the server's unknown-plugin error. The picker reads the diagnostics
# when it opens, so it is reopened until they have arrived.
row="ERROR +databook +unknown-plugin +no plugin named .ecoh."
deadline=$((SECONDS + start_limit))
seen=""
while :; do
  normal
  keys Space
  keys d
  sleep 0.5
  last_screen="$(screen)"
  if grep -qE -- "$row" <<<"$last_screen"; then seen=yes; break; fi
  [ "$SECONDS" -lt "$deadline" ] || break
done
if [ -n "$seen" ]; then
  pass "the diagnostics picker (space d) lists the unknown plugin \`ecoh\`"
  save_screen diagnostics
else
  fail "the diagnostics picker (space d) lists the unknown plugin \`ecoh\` (awaited ${start_limit}s /$row/); last screen:"
  show <<<"$last_screen"
fi
normal

# 2. On the new cell, space a lists Run cell and Run all; choosing Run cell
# runs it, the output block lands in the buffer, then on disk after :w.
fresh_line="$(line_of "@plugin=echo name=fresh")"
goto_line "$((fresh_line + 1))"
keys Space
keys a
if wait_screen "the code actions menu" " Run cell( |$)" && grep -qE " Run all( |$)" <<<"$last_screen"; then
  pass "space a on a cell lists Run cell and Run all"
  save_screen code-actions
else
  fail "space a on a cell lists Run cell and Run all"
fi
normal
goto_line "$((fresh_line + 1))"
if choose_action "Run cell" &&
  wait_screen "the output block of the run in the buffer" "^ *[0-9]+ +> Hello from Helix, run $token\.$"; then
  pass "choosing Run cell writes the output block into the buffer"
  save_screen after-run
else
  fail "choosing Run cell writes the output block into the buffer"
fi
fresh_block="@plugin=echo name=fresh
Hello from Helix, run $token.
@output status=ok mime=text/plain
> Hello from Helix, run $token.
@end"
# The block, whole and in this order, somewhere in the file.
fresh_on_disk() { [[ "$(cat "$nb")" == *"$fresh_block"* ]]; }
if save_until "the fresh cell's output block" fresh_on_disk; then
  pass "after :w the output block is on disk, right under its cell"
else
  fail "after :w the output block is on disk, right under its cell"
fi

# 3. Hover (space k) on that output block shows the result, with what only
# hover has: the run's status, time and MIME type.
out_line="$(line_of "> Hello from Helix, run $token.")"
if [ -n "$out_line" ]; then
  goto_line "$out_line"
  keys Space
  keys k
  # The popup's text, two lines under its status line (a blank between).
  if wait_screen "the hover on the output block" "ok in [0-9]+ ms · text/plain" &&
    awk -v want="Hello from Helix, run $token." '
      /ok in [0-9]+ ms · text\/plain/ { at = NR }
      at && NR == at + 2 && index($0, want) { found = 1 }
      END { exit !found }' <<<"$last_screen"; then
    pass "space k on the output block shows the run's result, status and time"
    save_screen hover-text
  else
    fail "space k on the output block shows the run's result, status and time"
  fi
else
  fail "space k on the output block (the file has no output line to hover)"
fi
normal

# 4. Clear output, from the code actions of the first cell: its output block
# leaves the file.
hello_line="$(line_of "@plugin=echo name=hello")"
hello_out="> Hello from a cell. The echo plugin returns its body."
hello_gone() { ! grep -qxF -- "$hello_out" "$nb"; }
goto_line "$((hello_line + 1))"
if choose_action "Clear output" && save_until "the first cell's output block to be gone" hello_gone; then
  pass "Clear output (space a) removes the cell's output block"
else
  fail "Clear output (space a) removes the cell's output block"
fi

# 5. Run all, from the same cell: every cell runs; the first cell's output
# comes back, and the long result is written cut at 40 lines.
all_done() {
  grep -qxF -- "$hello_out" "$nb" && grep -qxF -- "> … 23 more lines" "$nb"
}
goto_line "$((hello_line + 1))"
if choose_action "Run all" && save_until "every output block (the first cell's, and the long one cut)" all_done; then
  pass "Run all (space a) writes every cell's output block"
else
  fail "Run all (space a) writes every cell's output block"
fi

# 6. Hover on the time series' output shows it as a text chart: a value axis
# (┤ ticks), a time axis (└) and a legend naming both series (a marker, not
# the file's `>`, before each); none of it is in the file.
ts_line="$(line_of "@plugin=echo name=latency mime=application/vnd.databook.timeseries+json")"
ts_out="$(awk -v from="$ts_line" 'NR > from && /^@output/ { print NR + 1; exit }' "$nb")"
if [ -n "$ts_out" ]; then
  goto_line "$ts_out"
  keys Space
  keys k
  if wait_screen "the hover on the time series" "ok in [0-9]+ ms · application/vnd\.databook\.timeseries\+json" &&
    wait_screen "the chart's value axis in the hover" "[0-9] ┤" &&
    grep -qE "└[─┬]+" <<<"$last_screen" &&
    grep -qE "  [^ >] \{handler=\"/api\"\}" <<<"$last_screen" &&
    grep -qE "  [^ >] \{handler=\"/metrics\"\}" <<<"$last_screen"; then
    pass "space k on the time series' output shows a text chart with axes and a legend"
    save_screen hover-chart
  else
    fail "space k on the time series' output shows a text chart with axes and a legend"
    show <<<"$last_screen"
  fi
else
  fail "hover on the time series (its output block is not in the file)"
fi
normal

# 7. Hover on the long output shows the whole result: scrolled down (ctrl-d
# in the popup), it reaches the last item, which the file's block cut off.
many_line="$(line_of "@plugin=jq name=many")"
if grep -qF '"item 60"' "$nb"; then
  fail "the long result is cut in the file (\"item 60\" is in it)"
elif [ -n "$many_line" ]; then
  goto_line "$((many_line + 3))"
  keys Space
  keys k
  if wait_screen "the hover on the long output" "ok in [0-9]+ ms · application/json"; then
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      grep -qF '"item 60"' <<<"$last_screen" && break
      keys C-d
      last_screen="$(screen)"
    done
    if grep -qF '"item 60"' <<<"$last_screen"; then
      pass "space k on an output cut in the file shows the full result (scrolled with ctrl-d)"
      save_screen hover-long
    else
      fail "space k on an output cut in the file shows the full result: no \"item 60\" after 10 ctrl-d; last screen:"
      show <<<"$last_screen"
    fi
  else
    fail "space k on an output cut in the file shows the full result"
  fi
else
  fail "hover on the long output (its cell is not in the file)"
fi
normal

# 8. The quick fix for the misspelled plugin: space a with the cursor on the
# name offers `Change to \`echo\`` first; choosing it fixes the header.
typo_line="$(line_of "@plugin=ecoh name=typo")"
typo_fixed() { grep -qxF "@plugin=echo name=typo" "$nb"; }
if [ -n "$typo_line" ]; then
  goto_line "$typo_line"
  keys 9 l # onto `ecoh`, after `@plugin=`
  if choose_action 'Change to `echo`' && save_until "the fixed header" typo_fixed; then
    pass "the quick fix (space a) changes \`ecoh\` to \`echo\`"
  else
    fail "the quick fix (space a) changes \`ecoh\` to \`echo\`"
  fi
else
  fail "the quick fix (the misspelled header is not in the file)"
fi

# 9. Completion after `@plugin=` on a new line lists the built-in plugins
# (typed into the buffer at the end, never saved).
normal
keys g
keys e
keys o
text "@plugin="
if wait_screen "the completion menu after @plugin=" " echo +module" &&
  grep -qE " prometheus +module" <<<"$last_screen" && grep -qE " jq +module" <<<"$last_screen"; then
  pass "typing @plugin= offers the plugins (echo, jq, prometheus, ...)"
  save_screen completion
else
  fail "typing @plugin= offers the plugins (echo, jq, prometheus, ...)"
fi
normal

# hover_until REGEX SECONDS: asks for hover (space k) on the cursor's line
# again and again, until REGEX shows, for at most SECONDS (a run or a server
# start may still be under way); fails with the last screen kept.
hover_until() {
  local pattern="$1" deadline=$((SECONDS + $2))
  while :; do
    normal
    keys Space
    keys k
    sleep 0.5
    last_screen="$(screen)"
    if grep -qE -- "$pattern" <<<"$last_screen"; then return 0; fi
    [ "$SECONDS" -lt "$deadline" ] || return 1
  done
}

# 10. Results outlive the editor: after quitting Helix (dropping the unsaved
# completion line) and starting it again, with a new server, the hover on the
# output block still shows the full result (from the server's store). The
# server needs its start-up time before it answers, so the hover is asked
# again until it shows.
normal
text ":q!"
keys Enter
deadline=$((SECONDS + wait_limit))
while tm has-session -t hx 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
if tm has-session -t hx 2>/dev/null; then
  fail "hx quits on :q! (awaited ${wait_limit}s); last screen:"
  screen | show
  tm kill-session -t hx
fi
start_hx
out_line="$(line_of "> Hello from Helix, run $token.")"
seen=""
if wait_screen "Helix to show the notebook again" "tour\.dbk" && [ -n "$out_line" ]; then
  goto_line "$out_line"
  hover_until "ok in [0-9]+ ms · text/plain" "$start_limit" && seen=yes
fi
if [ -n "$seen" ]; then
  pass "after a restart of Helix, space k on the output block still shows the run's result"
  save_screen hover-after-restart
else
  fail "after a restart of Helix, space k on the output block still shows the run's result (awaited ${start_limit}s); last screen:"
  show <<<"$last_screen"
fi
normal

# 11. An environment picked with a workspace command (Helix has no other
# way to send one): the next run of a cell has it, and its hover says so.
text ':lsp-workspace-command databook.setEnvironment "staging"'
keys Enter
fresh_line="$(line_of "@plugin=echo name=fresh")"
seen=""
if [ -n "$fresh_line" ]; then
  goto_line "$fresh_line"
  if choose_action "Run cell"; then
    out_line="$(line_of "> Hello from Helix, run $token.")"
    goto_line "$out_line"
    hover_until "environment .?staging" "$wait_limit" && seen=yes
  fi
fi
if [ -n "$seen" ]; then
  pass "an environment set with :lsp-workspace-command is the next run's, and hover says so"
  save_screen hover-environment
else
  fail "an environment set with :lsp-workspace-command is the next run's, and hover says so; last screen:"
  show <<<"$last_screen"
fi
normal

echo "$passed passed, $failed failed (in $((SECONDS - start_time)) s)"
[ "$failed" -eq 0 ]
