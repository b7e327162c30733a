#!/bin/sh
# run.sh — runs every tests/integration/t_*.sh, each in its own bash process
# under a time limit, and reports TAP-like lines:
#
#   ok - t_priority (3s)
#   not ok - t_kill9        (followed by the tail of its output)
#   ...
#   12 passed, 2 failed
#
# Usage: sh tests/integration/run.sh [FILTER...]   (runs tests whose name
# contains one of the FILTERs). SLUICE_BIN picks the binaries (default
# ./bin; the Makefile also points it at the sanitizer build).
# SLUICE_TEST_TIMEOUT sets the limit per test (default 120 s).
# SLUICE_KEEP_TMP=1 keeps each test's tmpdir.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

# resolve SLUICE_BIN before changing directory
BIN=${SLUICE_BIN:-$ROOT/bin}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
export SLUICE_BIN=$BIN
cd "$ROOT" || exit 2

LIMIT=${SLUICE_TEST_TIMEOUT:-120}

for b in sluice-producer sluice-worker sluice-scheduler; do
    if [ ! -x "$SLUICE_BIN/$b" ]; then
        echo "run.sh: $SLUICE_BIN/$b is missing (make bin/$b)" >&2
        exit 2
    fi
done
for t in redis-server redis-cli python3 timeout; do
    command -v "$t" >/dev/null || { echo "run.sh: $t not found" >&2; exit 2; }
done

tests=()
for f in "$HERE"/t_*.sh; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .sh)
    if [ $# -gt 0 ]; then
        keep=0
        for pat in "$@"; do
            case $name in *"$pat"*) keep=1 ;; esac
        done
        [ $keep = 1 ] || continue
    fi
    tests+=("$f")
done
if [ ${#tests[@]} -eq 0 ]; then
    echo "run.sh: no test matches: $*" >&2
    echo "0 passed, 0 failed"
    exit 1
fi

echo "# binaries: $SLUICE_BIN"
passed=0
failed=0
failed_names=""
suite_start=$(date +%s)
out=$(mktemp "${TMPDIR:-/tmp}/sluice-run.XXXXXX")
trap 'rm -f "$out"' EXIT
for f in "${tests[@]}"; do
    name=$(basename "$f" .sh)
    start=$(date +%s)
    timeout --kill-after=10 "$LIMIT" bash "$f" >"$out" 2>&1 </dev/null
    st=$?
    secs=$(( $(date +%s) - start ))
    if [ $st -eq 0 ]; then
        echo "ok - $name (${secs}s)"
        passed=$((passed + 1))
    else
        why="exit status $st"
        [ $st -eq 124 ] || [ $st -eq 137 ] && why="timed out after ${LIMIT}s"
        echo "not ok - $name (${secs}s, $why)"
        grep -E '^FAIL' "$out" | head -n 20 | sed 's/^/#   /'
        echo "#   ---- tail of output"
        tail -n 40 "$out" | sed 's/^/#   /'
        failed=$((failed + 1))
        failed_names="$failed_names $name"
    fi
done
echo "# total $(( $(date +%s) - suite_start ))s${failed_names:+; failed:$failed_names}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
