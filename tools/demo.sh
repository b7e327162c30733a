#!/usr/bin/env bash
# make demo: runs Sluice for real on this machine. Starts its own redis-server
# under var/demo, a scheduler and two workers, enqueues a mixed load (a bulk
# flood, priorities, delayed jobs, jobs that fail and retry, jobs that die),
# shows live progress, prints a summary, and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SLUICE_BIN:-$PWD/bin}
VAR=$PWD/var/demo
rm -rf "$VAR"
mkdir -p "$VAR"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    [ -f "$VAR/redis.pid" ] && kill "$(cat "$VAR/redis.pid")" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cat > "$VAR/redis.conf" <<CONF
bind 127.0.0.1
port $port
dir $VAR
appendonly yes
appendfsync everysec
save ""
maxmemory-policy noeviction
pidfile $VAR/redis.pid
logfile $VAR/redis.log
daemonize yes
CONF
redis-server "$VAR/redis.conf"
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
export SLUICE_REDIS_URL="redis://127.0.0.1:$port/0" SLUICE_PREFIX=demo
R() { redis-cli -p "$port" "$@"; }
echo "== redis-server on 127.0.0.1:$port (AOF on), logs in var/demo/"

"$BIN/sluice-scheduler" --reap-ms 200 >"$VAR/scheduler.log" 2>&1 & pids+=($!)
for i in 1 2; do
    "$BIN/sluice-worker" --id "demo-worker-$i" --queues demo:4,bulk:1 --concurrency 50 \
        --backoff-base-ms 300 --backoff-max-ms 2000 >"$VAR/worker-$i.log" 2>&1 & pids+=($!)
done
echo "== scheduler and 2 workers started (queues demo:4, bulk:1; concurrency 50 each)"

python3 - "$VAR" <<'PY'
import json, random, sys
random.seed(7)
var = sys.argv[1]
def job(t, payload, **kw):
    kw.update(type=t, payload=payload)
    return json.dumps(kw)
with open(var + "/load.ndjson", "w") as f:
    for i in range(20000):      # a bulk backlog on its own queue
        f.write(job("noop", {"n": i}, queue="bulk", priority="low") + "\n")
    for i in range(6000):       # the main queue: calls that take 20-200 ms
        f.write(job("sleep", {"ms": random.randint(20, 200)}, queue="demo") + "\n")
    for i in range(500):        # scheduled for later
        f.write(job("sleep", {"ms": 5}, queue="demo", delay_ms=random.randint(1000, 8000)) + "\n")
    for i in range(150):        # flaky: fail twice, then succeed
        f.write(job("fail", {"times": 2}, queue="demo", priority="high") + "\n")
    for i in range(20):         # broken for good: dead at once
        f.write(job("fail", {"permanent": True}, queue="demo") + "\n")
    for i in range(10):         # always failing: dead after 3 attempts
        f.write(job("fail", {"times": 100}, queue="demo", max_attempts=3) + "\n")
with open(var + "/urgent.ndjson", "w") as f:
    for i in range(200):        # arrive last, run first
        f.write(job("sleep", {"ms": 1}, queue="demo", priority="critical") + "\n")
with open(var + "/bad.ndjson", "w") as f:
    f.write(job("sleep", {"ms": "soon"}, queue="demo") + "\n")
    f.write(job("noop", {}, queue="demo", priority="urgent") + "\n")
    f.write('{"type": "noop", "payload": {}, "colour": "red"}\n')
PY

t0=$(date +%s%N)
"$BIN/sluice-producer" enqueue --ndjson "$VAR/load.ndjson" >"$VAR/ids.txt"
t1=$(date +%s%N)
n=$(( $(wc -l <"$VAR/ids.txt") + 200 ))
echo "== enqueued $((n - 200)) jobs in $(( (t1 - t0) / 1000000 )) ms (bulk NDJSON); 200 critical ones follow in 2 s"
( sleep 2; "$BIN/sluice-producer" enqueue --ndjson "$VAR/urgent.ndjson" >"$VAR/urgent-ids.txt" ) &
echo "== three malformed jobs are refused at the door, naming the field:"
"$BIN/sluice-producer" enqueue --ndjson "$VAR/bad.ndjson" 2>&1 | sed 's/^/   /' || true

stats() {
    local q=$1
    printf 'LLEN demo:{%s}:ready:critical\nLLEN demo:{%s}:ready:high\nLLEN demo:{%s}:ready:normal\nLLEN demo:{%s}:ready:low\nZCARD demo:{%s}:delayed\nZCARD demo:{%s}:active\nZCARD demo:{%s}:done\nZCARD demo:{%s}:dead\nHGET demo:{%s}:stats retried\n' \
        "$q" "$q" "$q" "$q" "$q" "$q" "$q" "$q" "$q" | R | paste -sd' '
}
echo "== live progress (ready = critical/high/normal/low)"
start=$(date +%s%N)
while :; do
    read -r dc dh dn dl dd da ddone ddead dretried <<<"$(stats demo)"
    read -r bc bh bn bl bd ba bdone bdead _ <<<"$(stats bulk)"
    now=$(date +%s%N)
    el=$(( (now - start) / 1000000 ))
    printf '\r   %3d.%ds  demo: ready %s/%s/%s/%s delayed %-4s active %-4s done %-5s dead %-3s retried %-4s | bulk: ready %-6s done %-6s ' \
        $((el / 1000)) $((el % 1000 / 100)) "$dc" "$dh" "$dn" "$dl" "$dd" "$da" "$ddone" "$ddead" "${dretried:-0}" "$bl" "$bdone"
    finished=$(( ddone + ddead + bdone + bdead ))
    if [ "$finished" -ge "$n" ] && [ $((dc + dh + dn + dl + dd + da + bl + ba)) -eq 0 ]; then break; fi
    if [ "$el" -gt 120000 ]; then echo; echo "demo: not finished after 120 s"; exit 1; fi
    sleep 0.5
done
echo
end=$(date +%s%N)
echo "== all $n jobs settled in $(( (end - start) / 1000000 )) ms"

echo "== summary"
"$BIN/sluice-ctl" stats 2>/dev/null || true
python3 - "$VAR" "$port" <<'PY'
import json, statistics, subprocess, sys
var, port = sys.argv[1], sys.argv[2]
def r(*a):
    out = subprocess.run(["redis-cli", "-p", port, *a], capture_output=True, text=True).stdout
    return out.split("\n")[:-1]
def waits(ids, queue):
    """enqueue -> finish in ms for each id (created_ms from the body, finish from done)"""
    bodies = r("MGET", *["demo:{%s}:job:%s" % (queue, i) for i in ids])
    done = r("ZMSCORE", "demo:{%s}:done" % queue, *ids)
    return [float(d) - json.loads(b)["created_ms"] for b, d in zip(bodies, done) if b and d]
urgent = [l.strip() for l in open(var + "/urgent-ids.txt")]
ids = [l.strip() for l in open(var + "/ids.txt")]
u, n = waits(urgent, "demo"), waits(ids[20000:26000:30], "demo")
print(f"   critical jobs, enqueued behind a backlog: enqueue->done median {statistics.median(u):.0f} ms, max {max(u):.0f} ms")
print(f"   normal jobs of that backlog:              enqueue->done median {statistics.median(n):.0f} ms, max {max(n):.0f} ms")
dead = r("ZRANGE", "demo:{demo}:dead", "0", "-1")
print(f"   dead jobs: {len(dead)} (20 permanent failures + 10 out of attempts), each with its reason:")
for d in dead[:1] + dead[-1:]:
    body = json.loads(r("GET", "demo:{demo}:job:" + d)[0])
    print(f"     {d} attempts={body.get('attempts')} last_error={body.get('last_error')!r}")
PY
echo "== stopping workers (SIGTERM drains), scheduler and redis"
