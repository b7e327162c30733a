#!/bin/sh
# run.sh — runs every tests/integration/t_*.sh, each in its own bash process
# under a time limit, and reports TAP-like lines:
#
#   ok - t_priority (3s, cpu 1s)
#   not ok - t_kill9        (followed by the tail of its output)
#   ...
#   12 passed, 2 failed
#
# Usage: sh tests/integration/run.sh [FILTER...]   (runs tests whose name
# contains one of the FILTERs; =NAME: that test alone). SLUICE_BIN picks the binaries (default
# ./bin; the Makefile also points it at the sanitizer build).
# SLUICE_TEST_TIMEOUT sets the limit per test (default 120 s).
# SLUICE_TEST_JOBS runs that many tests at a time (default 2; each has its
# own redis-server, fake and processes on free ports, so they never meet);
# those that are not rate-paced run twice as many at a time (see below).
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
            case $pat in
            =*) [ "$name" = "${pat#=}" ] && keep=1 ;;
            *) case $name in *"$pat"*) keep=1 ;; esac ;;
            esac
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

# Three groups, one after the other, each slowest first (so that running N
# at a time ends sooner; durations measured on 2 cores):
# - paced: tests that count requests in the fake's windows or time a
#   backoff (a busy neighbour can bunch their requests), and those that
#   must signal a worker while its jobs are still running (t_kill9,
#   t_drain: under load their polling can miss a run of a second); so
#   SLUICE_TEST_JOBS (2) at a time, as every test ran before;
# - the rest, twice as many at a time: they wait for conditions with
#   generous bounds and use a quarter of a core or less each (the cpu
#   figure of each "ok" line);
# - alone: the fleet and fault runs measured against one-second windows
#   at full rate; a neighbour's load stalls processes for long enough to
#   bunch requests.
paced=(t_fake t_interview t_message_errors t_ratelimit_bucket t_approval_bucket t_message_faults
       t_approval t_message_telegram_busy t_followup t_drain t_message_telegram t_kill9
       t_ratelimit_new_channel)
slow=(t_producer_edges t_serve_spool t_func t_dead_worker t_func_clients t_ctl t_pdf t_serve_wait
      t_result_channel t_spool_kill9 t_serve t_serve_openapi t_batch t_producer t_func_same t_fence
      t_metrics t_metrics_scrape t_web)
alone=(t_message_fleet t_message_faults_after t_message_resend)
# pick NAME...: the tests of the run with those names, in that order
pick() {
    local n f
    for n in "$@"; do
        for f in "${tests[@]}"; do [ "$f" = "$HERE/$n.sh" ] && echo "$f"; done
    done
}
mapfile -t first < <(pick "${paced[@]}")
mapfile -t wide < <(pick "${slow[@]}")
for f in "${tests[@]}"; do
    n=${f##*/}
    case " ${paced[*]} ${slow[*]} ${alone[*]} " in *" ${n%.sh} "*) ;; *) wide+=("$f") ;; esac
done
mapfile -t lone < <(pick "${alone[@]}")

JOBS=${SLUICE_TEST_JOBS:-2}
WIDE=$((JOBS * 2))
echo "# binaries: $SLUICE_BIN ($JOBS tests at a time, $WIDE for those not paced)"
passed=0
failed=0
failed_names=""
suite_start=$(date +%s)
outdir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-run.XXXXXX")
trap 'rm -rf "$outdir"' EXIT
declare -A job_name job_start
running=0

# collect: waits for one test to end and reports it
collect() {
    local pid st=0
    wait -n -p pid || st=$?
    local name=${job_name[$pid]} out="$outdir/${job_name[$pid]}.out"
    local secs=$(( $(date +%s) - ${job_start[$pid]} ))
    # CPU seconds of the test and everything it started and reaped (bash's
    # `times`: its children's user and system time, as 0m1.234s 0m0.567s)
    local cpu
    cpu=$(awk 'NR == 2 { split($1, u, "m"); split($2, s, "m"); printf "%d", u[1] * 60 + u[2] + s[1] * 60 + s[2] + 0.5 }' \
        "$outdir/$name.cpu" 2>/dev/null)
    running=$((running - 1))
    if [ $st -eq 0 ]; then
        echo "ok - $name (${secs}s, cpu ${cpu:-?}s)"
        passed=$((passed + 1))
    else
        local why="exit status $st"
        [ $st -eq 124 ] || [ $st -eq 137 ] && why="timed out after ${LIMIT}s"
        echo "not ok - $name (${secs}s, $why)"
        grep -E '^FAIL|^not ok' "$out" | head -n 20 | sed 's/^/#   /'
        echo "#   ---- tail of output (all of it: ${TMPDIR:-/tmp}/sluice-$name.failed.log)"
        tail -n 40 "$out" | sed 's/^/#   /'
        cp "$out" "${TMPDIR:-/tmp}/sluice-$name.failed.log"
        failed=$((failed + 1))
        failed_names="$failed_names $name"
    fi
}

launch() {
    local name
    name=$(basename "$1" .sh)
    (
        timeout --kill-after=10 "$LIMIT" bash "$1" >"$outdir/$name.out" 2>&1 </dev/null
        st=$?
        times >"$outdir/$name.cpu"
        exit $st
    ) &
    job_name[$!]=$name
    job_start[$!]=$(date +%s)
    running=$((running + 1))
}
# run_group N TEST...: the tests, N at a time; returns when all have ended
run_group() {
    local n=$1 f
    shift
    for f in "$@"; do
        [ $running -lt "$n" ] || collect
        launch "$f"
    done
    while [ $running -gt 0 ]; do collect; done
}
run_group "$JOBS" "${first[@]}"
run_group "$WIDE" "${wide[@]}"
run_group 1 "${lone[@]}"
echo "# total $(( $(date +%s) - suite_start ))s${failed_names:+; failed:$failed_names}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
