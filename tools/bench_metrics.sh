#!/bin/sh
# bench_metrics.sh — `BENCH_ONLY=metrics make bench` (or run directly): what
# --metrics-listen costs. On a private redis-server (and a private fake
# Discord for messages), one JSON object a line on stdout:
#   - scrape: the time of GET /metrics from a worker holding 1,000 jobs in
#     flight (sleep jobs, concurrency 1,000), curl's time_total over
#     BENCH_SCRAPES (200) scrapes: p50, p90, p99, max in ms, and the text's size;
#   - noop and message throughput with metrics off and on, alternating
#     BENCH_METRICS_RUNS (4) times each (sluice-bench noop, message; the
#     worker reads SLUICE_METRICS_LISTEN), and the median of each.
#   - with BENCH_METRICS_CALLGRIND=1 (valgrind installed): the worker's
#     instructions per job, off and on, counted by callgrind over a noop run
#     of BENCH_CG_NOOP_JOBS (20,000) and a message run of BENCH_CG_MESSAGE_JOBS
#     (2,000): a figure a busy machine does not move, unlike throughput.
# Progress goes to stderr. SLUICE_BIN picks the binaries.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SLUICE_BIN:-$here/bin}
for b in sluice-bench sluice-worker sluice-producer sluice-fake-platform; do
    [ -x "$bin/$b" ] || { echo "bench_metrics: $bin/$b is missing (make)" >&2; exit 1; }
done
runs=${BENCH_METRICS_RUNS:-4}
scrapes=${BENCH_SCRAPES:-200}

dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-metrics.XXXXXX")
pids=""
cleanup() {
    for p in $pids; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
    --logfile "$dir/redis.log" --daemonize no &
redis_pid=$!
pids="$redis_pid"
i=0
until redis-cli -p "$port" ping >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -le 100 ] || { echo "bench_metrics: redis-server did not answer" >&2; exit 1; }
    sleep 0.1
done
export SLUICE_REDIS_URL="redis://127.0.0.1:$port/0"
export SLUICE_PREFIX=sluice

# ---- the scrape of a worker with 1,000 jobs in flight
mport=$(free_port)
python3 -c 'import sys
for i in range(1000): print("{\"type\":\"sleep\",\"queue\":\"scrape\",\"timeout_ms\":600000,\"payload\":{\"ms\":300000}}")' \
    >"$dir/sleep.ndjson"
"$bin/sluice-producer" enqueue --ndjson "$dir/sleep.ndjson" >/dev/null
"$bin/sluice-worker" --queues scrape --concurrency 1000 --metrics-listen "$mport" \
    --log-level warn 2>"$dir/worker.log" &
wpid=$!
pids="$wpid $pids"
i=0
until curl -s "http://127.0.0.1:$mport/metrics" | grep -q '^sluice_jobs_in_flight{queue="scrape"} 1000$'; do
    i=$((i + 1))
    [ "$i" -le 300 ] || { echo "bench_metrics: the worker never held 1,000 jobs" >&2; exit 1; }
    sleep 0.1
done
bytes=$(curl -s "http://127.0.0.1:$mport/metrics" | wc -c)
echo "bench_metrics: $scrapes scrapes of a worker with 1,000 jobs in flight" >&2
n=0
while [ "$n" -lt "$scrapes" ]; do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$mport/metrics"
    n=$((n + 1))
done >"$dir/scrapes"
kill "$wpid"
wait "$wpid" 2>/dev/null || true
pids="$redis_pid"
redis-cli -p "$port" flushall >/dev/null
python3 - "$dir/scrapes" "$bytes" <<'EOF'
import json, sys
t = sorted(float(x) * 1000 for x in open(sys.argv[1]) if x.strip())
q = lambda p: round(t[min(len(t) - 1, int(p * len(t)))], 3)
print(json.dumps({"test": "metrics_scrape", "in_flight": 1000, "scrapes": len(t),
                  "bytes": int(sys.argv[2]), "p50_ms": q(0.5), "p90_ms": q(0.9),
                  "p99_ms": q(0.99), "max_ms": round(t[-1], 3)}))
EOF

# ---- throughput off and on, alternating
token_file="$dir/discord.token"
(umask 077 && python3 -c 'import secrets; print("bench-" + secrets.token_hex(16))' >"$token_file")
SLUICE_FAKE_DISCORD_TOKENS="$(cat "$token_file")" "$bin/sluice-fake-platform" --global-limit 0 \
    --bucket-limit 0 --latency-ms 50 >"$dir/fake.out" 2>>"$dir/fake.log" &
fake_pid=$!
pids="$fake_pid $pids"
i=0
until grep -q '^listening ' "$dir/fake.out"; do
    i=$((i + 1))
    [ "$i" -le 100 ] || { echo "bench_metrics: the fake did not start" >&2; exit 1; }
    sleep 0.1
done
api="http://$(sed -n '1s/^listening //p' "$dir/fake.out")/api/v10"

# one TEST MODE: sluice-bench's JSON line, with "metrics": MODE added
one() {
    test=$1 mode=$2
    shift 2
    if [ "$mode" = on ]; then
        SLUICE_METRICS_LISTEN="127.0.0.1:$(free_port)" "$bin/sluice-bench" "$test" "$@"
    else
        env -u SLUICE_METRICS_LISTEN "$bin/sluice-bench" "$test" "$@"
    fi | sed "s/^{/{\"metrics\":\"$mode\",/"
}
r=0
while [ "$r" -lt "$runs" ]; do
    for mode in off on; do
        echo "bench_metrics: noop, metrics $mode (run $((r + 1)) of $runs)" >&2
        one noop "$mode" --jobs "${BENCH_NOOP_JOBS:-300000}" --workers 1 --concurrency 1000
        echo "bench_metrics: message, metrics $mode (run $((r + 1)) of $runs)" >&2
        one message "$mode" --jobs "${BENCH_MESSAGE_JOBS:-30000}" --workers 1 --concurrency 1000 \
            --discord-per-second 0 --discord-api "$api" --discord-token-file "$token_file" \
            --timeout-s 120
    done
    r=$((r + 1))
done | tee "$dir/runs"
python3 - "$dir/runs" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def rate(r):
    for k in ("process_jobs_per_s", "process_messages_per_s"):
        if k in r:
            return r[k]
    return None
def cpu(r):
    for k in ("worker_cpu_us_per_job", "worker_cpu_us_per_message"):
        if k in r:
            return r[k]
    return None
def median(test, mode, f):
    v = [f(r) for r in rows if r.get("test") == test and r.get("metrics") == mode]
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None
for test in ("noop", "message"):
    off, on = median(test, "off", rate), median(test, "on", rate)
    coff, con = median(test, "off", cpu), median(test, "on", cpu)
    if off and on:
        print(json.dumps({"test": "metrics_cost", "of": test, "runs": len(rows) // 4,
                          "median_per_s_off": off, "median_per_s_on": on,
                          "on_vs_off_pct": round(100.0 * (on / off - 1), 1),
                          "worker_cpu_us_off": coff, "worker_cpu_us_on": con}))
EOF

# ---- instructions per job, off and on (callgrind counts them)
[ "${BENCH_METRICS_CALLGRIND:-0}" = 1 ] || exit 0
command -v valgrind >/dev/null || { echo "bench_metrics: valgrind not found" >&2; exit 1; }
printf '#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file="%s/cg.$$" "%s/sluice-worker" "$@"\n' \
    "$dir" "$bin" >"$dir/cg-worker"
chmod +x "$dir/cg-worker"
# cg TEST MODE JOBS ARGS...: instructions per job of the worker of one run
cg() {
    test=$1 mode=$2 jobs=$3
    shift 3
    rm -f "$dir"/cg.*
    echo "bench_metrics: callgrind, $test, metrics $mode" >&2
    if [ "$mode" = on ]; then
        SLUICE_METRICS_LISTEN="127.0.0.1:$(free_port)" "$bin/sluice-bench" "$test" --jobs "$jobs" \
            --worker-bin "$dir/cg-worker" "$@" >/dev/null
    else
        env -u SLUICE_METRICS_LISTEN "$bin/sluice-bench" "$test" --jobs "$jobs" \
            --worker-bin "$dir/cg-worker" "$@" >/dev/null
    fi
    ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$dir"/cg.* | head -n 1)
    printf '{"test":"metrics_instructions","of":"%s","metrics":"%s","jobs":%s,"worker_instructions":%s,"per_job":%s}\n' \
        "$test" "$mode" "$jobs" "${ir:-0}" "$((${ir:-0} / jobs))"
}
for mode in off on; do
    cg noop "$mode" "${BENCH_CG_NOOP_JOBS:-20000}" --workers 1 --concurrency 1000
    cg message "$mode" "${BENCH_CG_MESSAGE_JOBS:-2000}" --workers 1 --concurrency 1000 \
        --discord-per-second 0 --discord-api "$api" --discord-token-file "$token_file" --timeout-s 600
done
