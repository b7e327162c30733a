#!/usr/bin/env bash
# dashboard_shot.sh — makes docs/dashboard.png from a real run, so the
# picture in the README shows what an operator sees: a private
# redis-server, a scheduler archiving every job end (--archive, --history
# all), a worker on 100 queues and a feeder that keeps 12 of them busy for
# SHOT_SECONDS (240: four minutes of rollups) with sleep jobs, jobs that
# retry and then succeed, and jobs that die; then `sluice-ctl web` on that
# archive, drawn in headless Chromium by tests/integration/web_check.py
# (--perf 100: first paint and the screenshot). Needs what `make test`
# installs. Usage: bash tools/dashboard_shot.sh [OUT.png]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${SLUICE_BIN:-$root/bin}
out=${1:-$root/docs/dashboard.png}
secs=${SHOT_SECONDS:-240}
dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-shot.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

rport=$(port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
pids+=($!)
export SLUICE_REDIS_URL=redis://127.0.0.1:$rport SLUICE_PREFIX=sluice
until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.1; done

queues=$(seq -f 'q%03g' -s, 1 100)
"$bin/sluice-scheduler" --archive "$dir/archive.db" --history all >"$dir/sched.log" 2>&1 &
pids+=($!)
"$bin/sluice-worker" --queues "$queues" --concurrency 200 >"$dir/worker.log" 2>&1 &
pids+=($!)
for i in $(seq 1 100); do printf '{"type":"noop","queue":"q%03d","payload":{}}\n' "$i"; done |
    "$bin/sluice-producer" enqueue --ndjson - >/dev/null

feed() { # one round: 80 sleep jobs, a retry, sometimes a dead one, an untrusted payload
    for _ in $(seq 1 80); do
        printf '{"type":"sleep","queue":"q%03d","payload":{"ms":%d}}\n' $((RANDOM % 12 + 1)) $((RANDOM % 400 + 20))
    done
    printf '{"type":"fail","queue":"q%03d","payload":{"times":1},"max_attempts":3}\n' $((RANDOM % 12 + 1))
    [ $((RANDOM % 4)) -eq 0 ] && printf '{"type":"fail","queue":"q005","payload":{"permanent":true}}\n'
    printf '{"type":"noop","queue":"q%03d","payload":{"note":"<img src=x onerror=alert(1)>"}}\n' $((RANDOM % 12 + 1))
}
echo "dashboard_shot: a load on 12 of 100 queues for $secs s, then the picture under it" >&2
(while :; do feed | "$bin/sluice-producer" enqueue --ndjson - >/dev/null; sleep 0.5; done) &
pids+=($!)
sleep "$secs"

head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/token"
wport=$(port)
"$bin/sluice-ctl" web --listen "127.0.0.1:$wport" --admin-token-file "$dir/token" \
    --archive "$dir/archive.db" >"$dir/web.log" 2>&1 &
pids+=($!)
until curl -sf "http://127.0.0.1:$wport/api/view" >/dev/null; do sleep 0.1; done
WEB_CHECK_REAL_ARCHIVE=1 /usr/bin/python3 "$root/tests/integration/web_check.py" "http://127.0.0.1:$wport/" - - - "$dir/token" "$dir" --perf 100
cp "$dir/dashboard.png" "$out"
echo "dashboard_shot: $out" >&2
