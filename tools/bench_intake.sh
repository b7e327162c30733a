#!/bin/sh
# bench_intake.sh — the HTTP intake under wrk (BENCH_ONLY=intake in
# tools/bench.sh, which starts the redis-server: SLUICE_REDIS_URL). Four
# runs, each printed as one JSON line: single-job POSTs over 64 keep-alive
# connections, 500-job arrays over 32, single-job POSTs at about 5,000/s
# (58 connections, each waiting 10 ms after an answer: 10 ms + the
# latency a cycle) for the accept latency, and ?wait (bench/wait.py: 2,000
# sleep jobs at 400/s run by a sluice-worker, each held by a GET ?wait; the
# time from the job's finished line to the GET's answer). Each wrk line
# also says how many jobs Redis holds after the run (every 201 is a job
# stored) and Redis's CPU per job. Last, the intake's flusher: 50,000 jobs
# spooled by the CLI, then sent by an intake started on the spool.
# BENCH_INTAKE_SECONDS sets a wrk run's length.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SLUICE_BIN:-$here/bin}
command -v wrk >/dev/null 2>&1 || { echo "bench: wrk not found (apt-get install wrk)" >&2; exit 1; }
secs=${BENCH_INTAKE_SECONDS:-10}
port=${SLUICE_REDIS_URL##*:}
port=${port%%/*}
dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-intake.XXXXXX")
ipid="" wpid=""
trap 'kill $ipid $wpid 2>/dev/null; wait $ipid $wpid 2>/dev/null; rm -rf "$dir"' EXIT

out=$("$bin/sluice-producer" token new --name bench 2>/dev/null)
token=$(echo "$out" | sed -n 1p)
echo "$out" | sed -n 2p >"$dir/tokens"
iport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/sluice-producer" serve --listen "127.0.0.1:$iport" --tokens-file "$dir/tokens" \
    2>"$dir/intake.log" &
ipid=$!
i=0
until curl -sf "http://127.0.0.1:$iport/readyz" >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -lt 100 ] || { echo "bench: the intake did not start" >&2; cat "$dir/intake.log" >&2; exit 1; }
    sleep 0.1
done

echo '{"type":"noop","queue":"intake","payload":{}}' >"$dir/one.json"
python3 -c 'import json; print(json.dumps({"jobs": [{"type": "noop", "queue": "intake", "payload": {}}] * 500}))' \
    >"$dir/500.json"

redis_cpu_us() {
    redis-cli -p "$port" info cpu | tr -d '\r' |
        awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.0f", s * 1e6}'
}
stored() { redis-cli -p "$port" hget 'sluice:{intake}:stats' enqueued | sed 's/^$/0/'; }

# Until the intake has stored what was still in flight when wrk stopped
# (up to 32 arrays of 500), so that it does not count in the next run.
settle() {
    a=$(stored) b=""
    while [ "$a" != "$b" ]; do
        sleep 0.3
        b=$a a=$(stored)
    done
}

# one_run NAME BODY JOBS CONNECTIONS DELAY_MS
one_run() {
    settle
    redis-cli -p "$port" flushall >/dev/null
    echo "bench: intake $1 (uptime: $(uptime | sed 's/.*load/load/'))" >&2
    c0=$(redis_cpu_us)
    line=$(WRK_BODY=$2 WRK_TOKEN=$token WRK_JOBS=$3 WRK_DELAY_MS=$5 \
        wrk -t2 -c"$4" -d"${secs}s" --latency -s "$here/bench/wrk/post.lua" \
        "http://127.0.0.1:$iport/v1/jobs" | tail -n 1)
    c1=$(redis_cpu_us)
    n=$(stored)
    per=$(awk -v c="$((c1 - c0))" -v n="$n" 'BEGIN {printf "%.2f", n ? c / n : 0}')
    echo "{\"test\":\"intake-$1\",\"connections\":$4,\"jobs_per_post\":$3,\"jobs_stored\":$n,\"redis_cpu_us_per_job\":$per,${line#\{}"
}

one_run single "$dir/one.json" 1 64 0
one_run array500 "$dir/500.json" 500 32 0
one_run latency5000 "$dir/one.json" 1 58 10

settle
redis-cli -p "$port" flushall >/dev/null
"$bin/sluice-worker" --queues intakewait --concurrency 1000 2>"$dir/worker.log" &
wpid=$!
echo "bench: intake wait (uptime: $(uptime | sed 's/.*load/load/'))" >&2
python3 "$here/bench/wait.py" "$iport" "$token" "$port" intakewait 2000 400 50

# The intake's flusher: 50,000 jobs spooled by the CLI while Redis refused
# connections, then a second intake started on that spool; the time from
# its start to the last job stored (start-up included).
kill $wpid 2>/dev/null && wait $wpid 2>/dev/null
wpid=""
python3 -c 'import json
for i in range(50000): print(json.dumps({"type": "noop", "queue": "flushbench", "payload": {"i": i}}))' \
    >"$dir/50k.ndjson"
"$bin/sluice-producer" --redis-url redis://127.0.0.1:1 --spool "$dir/spool.db" --ndjson "$dir/50k.ndjson" \
    >/dev/null 2>&1
fport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "bench: intake flush (uptime: $(uptime | sed 's/.*load/load/'))" >&2
t0=$(date +%s%N)
"$bin/sluice-producer" serve --no-auth --listen "127.0.0.1:$fport" --spool "$dir/spool.db" \
    2>"$dir/flush.log" &
wpid=$!
n=0
while [ "$n" != 50000 ]; do
    kill -0 $wpid 2>/dev/null || { echo "bench: the flushing intake died" >&2; cat "$dir/flush.log" >&2; exit 1; }
    sleep 0.02
    n=$(redis-cli -p "$port" hget 'sluice:{flushbench}:stats' enqueued | sed 's/^$/0/')
done
t1=$(date +%s%N)
awk -v ns="$((t1 - t0))" 'BEGIN {printf "{\"test\":\"intake-flush\",\"jobs\":50000,\"seconds\":%.3f,\"jobs_per_s\":%.0f}\n", ns / 1e9, 50000 / (ns / 1e9)}'
