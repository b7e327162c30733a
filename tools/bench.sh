#!/bin/sh
# bench.sh — `make bench`: starts a private redis-server in a temporary
# directory on a free port, runs sluice-bench's standard set against it and
# prints one JSON object per line on stdout (progress goes to stderr). Builds
# nothing: `make bench` has built bin/ first. SLUICE_BIN picks other binaries;
# BENCH_NOOP_JOBS, BENCH_NOOP2_JOBS, BENCH_IO_JOBS, BENCH_MESSAGE_JOBS,
# BENCH_MESSAGE2_JOBS, BENCH_PDF_JOBS and BENCH_LATENCY_SECONDS shrink or grow the set;
# BENCH_ONLY="message" (names of sluice-bench tests) runs only those. The
# message tests deliver to a private sluice-fake-platform as Discord.
# BENCH_ONLY="fleet" runs only the two busy-machine fleet runs (3 workers,
# 3,000 messages over 150 channels at Discord's limits beside a CPU-bound
# process, then with 5% 5xx, 5% dropped-after-effect and 5% 5xx-after-effect
# answers);
# BENCH_FLEET_RUNS repeats them (default 1), BENCH_FLEET_JOBS sizes them.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SLUICE_BIN:-$here/bin}
bench="$bin/sluice-bench"
[ -x "$bench" ] || { echo "bench: $bench is missing (run make first)" >&2; exit 1; }
[ -x "$bin/sluice-worker" ] || { echo "bench: $bin/sluice-worker is missing" >&2; exit 1; }
fake="$bin/sluice-fake-platform"
[ -x "$fake" ] || { echo "bench: $fake is missing" >&2; exit 1; }
for tool in redis-server redis-cli redis-benchmark python3 curl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench: $tool not found (make deps)" >&2; exit 1; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
pid=""
fake_pid=""
# shellcheck disable=SC2317 # called from the trap
cleanup() {
    for p in $fake_pid $pid; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Nothing on disk: persistence would measure the disk, not Sluice.
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
    --logfile "$dir/redis.log" --daemonize no &
pid=$!
i=0
until redis-cli -p "$port" ping >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "bench: redis-server did not answer on port $port" >&2
        cat "$dir/redis.log" >&2 2>/dev/null || true
        exit 1
    fi
    sleep 0.1
done

export SLUICE_REDIS_URL="redis://127.0.0.1:$port/0"
export SLUICE_PREFIX=sluice

# The machine's own figure for context: plain SETs from 50 clients.
ref=$(redis-benchmark -p "$port" -t set -n 200000 -q 2>/dev/null | tr '\r' '\n' |
    sed -n 's/^SET: \([0-9.]*\) requests per second.*$/\1/p' | tail -n 1)
if [ -n "$ref" ]; then
    echo "{\"test\":\"redis-benchmark\",\"command\":\"set\",\"requests\":200000,\"requests_per_s\":$ref}"
else
    echo "bench: redis-benchmark gave no figure" >&2
fi
redis-cli -p "$port" flushall >/dev/null

status=0
run() {
    # BENCH_ONLY="message pdf" runs only those tests (the fleet runs are
    # named "fleet" as a whole)
    if [ "${FLEET:-0}" != 1 ]; then
        case " ${BENCH_ONLY:-$1} " in *" $1 "*) ;; *) return 0 ;; esac
    fi
    echo "bench: sluice-bench $*" >&2
    "$bench" "$@" || status=1
}

# Latency first, while Redis is quiet: after a million jobs are deleted it
# spends a while shrinking its tables and returning memory, which shows up
# in the tail of whatever runs next.
lat_s=${BENCH_LATENCY_SECONDS:-10}
run latency --rate 1000 --seconds "$lat_s"
run latency --rate 500 --seconds "$lat_s"
run io --jobs "${BENCH_IO_JOBS:-100000}" --ms 50 --concurrency 1000
run noop --jobs "${BENCH_NOOP_JOBS:-1000000}" --workers 1 --concurrency 1000
run noop --jobs "${BENCH_NOOP2_JOBS:-500000}" --workers 2 --concurrency 1000
# One-page PDFs rendered on one worker's two pool threads and filed under a
# temporary --pdf-dir (the workers' temporary files must all be gone after).
run pdf --jobs "${BENCH_PDF_JOBS:-3000}" --workers 1 --concurrency 100 --pdf-threads 2

# The fake Discord. The token is random, kept in a private file, and reaches
# the workers only as that file's name.
token_file="$dir/discord.token"
(umask 077 && python3 -c 'import secrets; print("bench-" + secrets.token_hex(16))' >"$token_file")
chmod 600 "$token_file"

# start_fake ARGS...: a fresh fake on a free port; sets fake_pid and api.
start_fake() {
    : >"$dir/fake.out"
    SLUICE_FAKE_DISCORD_TOKENS="$(cat "$token_file")" "$fake" "$@" >"$dir/fake.out" 2>>"$dir/fake.log" &
    fake_pid=$!
    i=0
    until grep -q '^listening ' "$dir/fake.out"; do
        i=$((i + 1))
        if [ "$i" -gt 100 ] || ! kill -0 "$fake_pid" 2>/dev/null; then
            echo "bench: sluice-fake-platform did not start" >&2
            cat "$dir/fake.log" >&2 2>/dev/null || true
            exit 1
        fi
        sleep 0.1
    done
    api="http://$(sed -n '1s/^listening //p' "$dir/fake.out")/api/v10"
}

stop_fake() {
    kill "$fake_pid" 2>/dev/null || true
    wait "$fake_pid" 2>/dev/null || true
    fake_pid=""
}

# Throughput: no limits anywhere, 50 ms per answer, 1,000 in flight (the
# ceiling is 20,000 messages/s).
start_fake --global-limit 0 --bucket-limit 0 --latency-ms 50
run message --jobs "${BENCH_MESSAGE_JOBS:-60000}" --workers 1 --concurrency 1000 \
    --discord-per-second 0 --discord-api "$api" --discord-token-file "$token_file" --timeout-s 120
stop_fake

# Keeping to Discord's limits: three workers share the global 50/s and learn
# the 10-per-second buckets of 30 channels; no 429 is wanted.
start_fake --global-limit 50 --bucket-limit 10 --bucket-window-ms 1000 --latency-ms 20
run message --jobs "${BENCH_MESSAGE2_JOBS:-1500}" --workers 3 --concurrency 200 --channels 30 \
    --discord-per-second 50 --discord-api "$api" --discord-token-file "$token_file" --timeout-s 120
stop_fake

# The fleet on a busy machine (issue 9): Discord's limits (global 50/s, 5
# messages per 5 s per channel, 100 ms answers), three workers, 3,000
# messages over 150 channels, and a CPU-bound process on one core the
# whole time; then the same with 5% of answers 5xx (nothing done), 5%
# of connections dropped after the message was delivered and 5% of answers
# 5xx after the message was delivered. Wanted: zero
# 429s, zero duplicates, nothing lost; steady_ratio_to_limit is the share
# of the global limit kept up. Only with BENCH_ONLY containing "fleet".
case " ${BENCH_ONLY:-} " in
*" fleet "*)
    FLEET=1
    sh -c 'while :; do :; done' &
    hog=$!
    # a scheduler brings back the jobs retried after a 5xx or a drop
    "$bin/sluice-scheduler" --tick-ms 100 --log-level warn 2>>"$dir/scheduler.log" &
    sched=$!
    # shellcheck disable=SC2064 # the pids are known now
    trap "kill $hog $sched 2>/dev/null || true; cleanup" EXIT
    n=0
    while [ "$n" -lt "${BENCH_FLEET_RUNS:-1}" ]; do
        n=$((n + 1))
        echo "bench: fleet run $n (uptime: $(uptime | sed 's/.*load/load/'))" >&2
        start_fake --global-limit 50 --bucket-limit 5 --bucket-window-ms 5000 --latency-ms 100
        run message --jobs "${BENCH_FLEET_JOBS:-3000}" --workers 3 --concurrency 200 \
            --channels 150 --discord-per-second 50 --discord-api "$api" \
            --discord-token-file "$token_file" --timeout-s 300
        stop_fake
        start_fake --global-limit 50 --bucket-limit 5 --bucket-window-ms 5000 --latency-ms 100 \
            --fail-rate 0.05 --drop-rate 0.05 --fail-after-rate 0.05 --seed "$n"
        run message --jobs "${BENCH_FLEET_JOBS:-3000}" --workers 3 --concurrency 200 \
            --channels 150 --discord-per-second 50 --discord-api "$api" \
            --discord-token-file "$token_file" --timeout-s 300
        stop_fake
    done
    kill "$hog" "$sched" 2>/dev/null || true
    ;;
esac
exit "$status"
