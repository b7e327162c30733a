# t_web.sh — sluice-ctl web in a real headless browser (Debian chromium and
# chromium-driver through python3-selenium; web_check.py): the page loads
# with no console errors, shows the figures of sluice-ctl stats --json, shows
# a dead job's hostile payload as text (no img element, no alert), and a
# retry from the page with the admin token moves a dead job back to ready,
# refused without it (and by a read-only server). Then 100 queues: first
# paint (the browser's Performance API) and a screenshot
# (SLUICE_WEB_SCREENSHOT=PATH keeps it, as docs/dashboard.png was made).
. "$(dirname "$0")/lib.sh"

for t in /usr/bin/chromium /usr/bin/chromedriver; do
    [ -x "$t" ] || die "$t is missing: apt-get install chromium chromium-driver (tools/deps.sh)"
done
/usr/bin/python3 -c 'import selenium' 2>/dev/null || die "python3-selenium is missing (tools/deps.sh)"

start_redis
BASE_PREFIX=$SLUICE_PREFIX
export SLUICE_PREFIX=$BASE_PREFIX-web
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else fail "$name (command: $*)"; fi
}
ctl() { "$SLUICE_BIN/sluice-ctl" "$@" 2>>"$TMP/ctl.log"; }

# load: done, dead (one with a hostile payload), ready of every priority, delayed
for i in $(seq 1 30); do echo '{"type":"noop","payload":{}}'; done | producer enqueue --ndjson - >/dev/null
f1=$(enqueue --type fail --payload '{"permanent":true}')
f2=$(enqueue --type fail --payload '{"permanent":true}')
# a job a foreign client wrote straight into Redis: the worker refuses its
# payload and keeps it in dead as it came
rcli set "$SLUICE_PREFIX:{fail}:job:XSS1" '{"id":"XSS1","type":"fail","queue":"fail","payload":{"note":"<img src=x onerror=alert(1)>"}}' >/dev/null
rcli rpush "$SLUICE_PREFIX:{fail}:ready:normal" XSS1 >/dev/null
start_worker w1 --queues noop,fail --heartbeat-ms 200
check "the load ran" wait_until 15 '[ "$(zcard done noop)" = 30 ] && [ "$(zcard dead fail)" = 3 ]'
stop "$(pid_of w1)" # so that a retried job stays in ready for the check
for p in critical high low; do enqueue --type noop --queue other --payload '{}' --priority $p >/dev/null; done
enqueue --type noop --queue other --payload '{}' --delay-ms 600000 >/dev/null
start_worker w2 --queues idle --heartbeat-ms 200
check "worker w2 reported" wait_until 10 "[ -n \"\$(rcli zscore $SLUICE_PREFIX:workers w2-$$)\" ]"
ctl stats --json >"$TMP/stats.json"

PORT=$(free_port)
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$TMP/token"
start_bg web "$TMP/web.log" "$SLUICE_BIN/sluice-ctl" web --listen "127.0.0.1:$PORT" \
    --admin-token-file "$TMP/token"
check "web is up" wait_until 10 "curl -sf http://127.0.0.1:$PORT/api/view >/dev/null"
hdrs=$(curl -si "http://127.0.0.1:$PORT/")
check "a strict Content-Security-Policy" grep -q "Content-Security-Policy: default-src 'none'; script-src 'self'" <<<"$hdrs"
check "the page comes from the binary" grep -q '<script src="/dashboard.js"' <<<"$hdrs"
check "a foreign Host header is refused (DNS rebinding)" test "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: evil.example:80' "http://127.0.0.1:$PORT/api/view")" = 421
check "Host: localhost is served" test "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: localhost:$PORT" "http://127.0.0.1:$PORT/api/view")" = 200

/usr/bin/python3 "$(dirname "$0")/web_check.py" "http://127.0.0.1:$PORT/" "$TMP/stats.json" XSS1 "$f1" \
    "$TMP/token" "$TMP" >"$TMP/check.out" 2>"$TMP/check.err"
rc=$?
cat "$TMP/check.out"
[ $rc -eq 0 ] || { tail -20 "$TMP/check.err" >&2; fail "web_check.py (status $rc)"; }
while read -r line; do
    case $line in ok:*) ok "browser: ${line#ok: }" ;; FAIL:*) fail "browser: ${line#FAIL: }" ;; esac
done <"$TMP/check.out"
check "the retried job is back in ready" test "$(ctl show "$f1" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = ready
check "the other dead job stays dead" test "$(ctl show "$f2" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = dead
check "the token is never logged" bash -c "! grep -qF '$(cat "$TMP/token")' '$TMP/web.log'"
check "the web log names the retry" grep -q "web: retry queue=fail job=$f1: done" "$TMP/web.log"
stop "$(pid_of web)"

# read-only: no token file, every action refused
start_bg web_ro "$TMP/web_ro.log" "$SLUICE_BIN/sluice-ctl" web --listen "127.0.0.1:$PORT"
check "read-only web is up" wait_until 10 "curl -sf http://127.0.0.1:$PORT/api/view >/dev/null"
code=$(curl -s -o "$TMP/ro.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat "$TMP/token")" \
    "http://127.0.0.1:$PORT/api/retry?queue=fail&id=$f2")
check "read-only: retry refused (403)" test "$code" = 403
check "read-only: says why" grep -q "read-only" "$TMP/ro.out"
check "read-only: the job stays dead" test "$(ctl show "$f2" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = dead
stop "$(pid_of web_ro)"

# 100 queues under load: first paint and a screenshot. A worker serves them
# all while a feeder keeps enqueueing (sleep jobs, and some that fail);
# the archive holds 3 hours of rollups in the tables of the archive
# contract (made here: what the scheduler's archiver writes)
export SLUICE_PREFIX=$BASE_PREFIX-web100
for i in $(seq -w 1 100); do
    echo "{\"type\":\"noop\",\"queue\":\"q$i\",\"payload\":{}}"
done | producer enqueue --ndjson - >/dev/null
"$PY" - "$TMP/archive.db" "$(now_ms)" <<'PY'
import math, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript("""PRAGMA journal_mode=WAL;
CREATE TABLE rollups(minute_ms INTEGER NOT NULL, queue TEXT NOT NULL,
  type TEXT NOT NULL, done INTEGER NOT NULL, dead INTEGER NOT NULL, retried INTEGER NOT NULL,
  cancelled INTEGER NOT NULL, rate_limited INTEGER NOT NULL, run_p50_ms REAL, run_p95_ms REAL,
  run_p99_ms REAL, wait_p50_ms REAL, wait_p95_ms REAL, wait_p99_ms REAL,
  PRIMARY KEY(minute_ms, queue, type));""")
now = int(sys.argv[2]) // 60000 * 60000
for m in range(180):
    t = now - (180 - m) * 60000
    done = int(3000 + 1500 * math.sin(m / 15.0))
    db.execute("INSERT INTO rollups VALUES(?, 'q001', 'sleep', ?, ?, ?, 0, ?, 300, 320, 350, 40, 90, 200)",
               (t, done, m % 7, (m * 13) % 40, (m * 7) % 25))
db.commit()
PY
queues=$(seq -f 'q%03g' -s, 1 100)
start_worker w3 --queues "$queues" --heartbeat-ms 200
cat >"$TMP/feeder.sh" <<'SH'
# keeps a load on: 60 sleep jobs over 12 queues and one failing job every half second
while :; do
    for i in $(seq 1 60); do
        printf '{"type":"sleep","queue":"q%03d","payload":{"ms":400}}\n' $((RANDOM % 12 + 1))
    done | "$SLUICE_BIN/sluice-producer" enqueue --ndjson - >/dev/null
    "$SLUICE_BIN/sluice-producer" enqueue --type fail --queue q005 --payload '{"permanent":true}' >/dev/null
    sleep 0.5
done
SH
start_bg feeder "$TMP/feeder.log" bash "$TMP/feeder.sh"
start_bg web100 "$TMP/web100.log" "$SLUICE_BIN/sluice-ctl" web --listen "127.0.0.1:$PORT" \
    --admin-token-file "$TMP/token" --archive "$TMP/archive.db"
check "web (100 queues) is up" wait_until 10 "curl -sf http://127.0.0.1:$PORT/api/view >/dev/null"
/usr/bin/python3 "$(dirname "$0")/web_check.py" "http://127.0.0.1:$PORT/" - - - "$TMP/token" "$TMP" \
    --perf 100 >"$TMP/perf.out" 2>"$TMP/perf.err" || tail -20 "$TMP/perf.err" >&2
cat "$TMP/perf.out"
while read -r line; do
    case $line in ok:*) ok "browser: ${line#ok: }" ;; FAIL:*) fail "browser: ${line#FAIL: }" ;; esac
done <"$TMP/perf.out"
check "a screenshot was taken" test -s "$TMP/dashboard.png"
[ -n "${SLUICE_WEB_SCREENSHOT:-}" ] && cp "$TMP/dashboard.png" "$SLUICE_WEB_SCREENSHOT"
stop "$(pid_of feeder)"
stop "$(pid_of web100)"
stop "$(pid_of w3)"
stop "$(pid_of w2)"
assert_nothing_running
finish
