# t_top.sh — sluice-ctl top --once after a small load against a real
# redis-server and worker: the figures it shows are those sluice-ctl stats
# --json and redis-cli show (depths per priority, delayed, active, dead,
# workers, the in-flight job and its worker, a bot's rate-limit state, the
# newest dead jobs); the frame fits 80x24 and holds no escape, even when a
# job's error carries one.
. "$(dirname "$0")/lib.sh"

start_redis
export SLUICE_PREFIX=$SLUICE_PREFIX-top
ctl() { "$SLUICE_BIN/sluice-ctl" "$@" 2>>"$TMP/ctl.log"; }
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else fail "$name (command: $*)"; fi
}

# load: 40 noop done, 3 dead, one running sleep job; then ready jobs of
# every priority in a queue no worker serves, one delayed, one paused queue
for i in $(seq 1 40); do echo '{"type":"noop","payload":{}}'; done | producer enqueue --ndjson - >/dev/null
for i in 1 2 3; do enqueue --type fail --payload '{"permanent":true}' >/dev/null; done
s1=$(enqueue --type sleep --payload '{"ms":600000}' --timeout-ms 900000)
start_worker w1 --queues noop,fail,sleep --heartbeat-ms 200
check "the load ran" wait_until 15 '[ "$(zcard done noop)" = 40 ] && [ "$(zcard dead fail)" = 3 ] && [ "$(zcard active sleep)" = 1 ]'
for p in critical high high normal low low low; do
    enqueue --type noop --queue other --payload '{}' --priority $p >/dev/null
done
enqueue --type noop --queue other --payload '{}' --delay-ms 600000 >/dev/null
"$SLUICE_BIN/sluice-ctl" pause other >/dev/null 2>&1
# a dead job a foreign client wrote, its error carrying a terminal escape
rcli set "$SLUICE_PREFIX:{other}:job:EVIL1" "$(printf '{"id":"EVIL1","type":"noop","last_error":"boom \033[2J\033[31mred"}')" >/dev/null
rcli zadd "$SLUICE_PREFIX:{other}:dead" "$(($(now_ms) + 1000))" EVIL1 >/dev/null
# what the rate-limit scripts write for a bot after a global 429
rcli set "$SLUICE_PREFIX:{rl:discord:b1}:block" "global 429" PX 60000 >/dev/null
rcli set "$SLUICE_PREFIX:{rl:discord:b1}:invalid:$(($(now_ms) / 600000))" 7 EX 1300 >/dev/null

ctl top --once >"$TMP/frame"
check "top --once exits 0" test $? -eq 0
cat "$TMP/frame" >&2
ctl stats --json >"$TMP/stats.json"

# the queue rows against stats --json
"$PY" - "$TMP/frame" "$TMP/stats.json" >"$TMP/cmp" <<'PY'
import json, sys
frame = open(sys.argv[1]).read().splitlines()
stats = json.load(open(sys.argv[2]))
rows = {}
for line in frame:
    parts = line.replace("|", " ").split()
    if parts and parts[0] in stats["queues"] and len(parts) >= 8:
        rows[parts[0]] = [int(x) for x in parts[1:8]]
for q, s in stats["queues"].items():
    r = s["ready"]
    want = [r["critical"], r["high"], r["normal"], r["low"], s["delayed"], s["active"], s["dead"]]
    print(q, "ok" if rows.get(q) == want else "differs: top %s, stats %s" % (rows.get(q), want))
PY
cat "$TMP/cmp" >&2
check "queue rows equal stats --json (4 queues)" test "$(grep -c ' ok$' "$TMP/cmp")" = 4
check "title: ready, dead and workers as stats says" grep -q "ready 7  dead 4  workers $("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["workers"])' "$TMP/stats.json")" "$TMP/frame"
check "a paused queue is marked" grep -q "^other    |" "$TMP/frame"
check "the worker and its in-flight job" grep -Eq "^w1-$$ +running +1/100 .* sleep:$s1" "$TMP/frame"
check "rate limits: the bot blocked, its 401/403/429 count" grep -Eq "^discord:b1 +global 429 [0-9.]+s +7 " "$TMP/frame"
newest=$(ctl dead --json --limit 1 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
check "dead: the newest first" grep -Eq "^[0-9:]{8} other +$newest boom" "$TMP/frame"
check "dead: the other dead jobs with their reason" test "$(grep -c ' fail: permanent failure' "$TMP/frame")" = 3
check "latency: says where it comes from" grep -q "P50/P99: due->finished of the newest 50 done jobs" "$TMP/frame"
check "noop has a p50 (40 done jobs)" grep -Eq "^noop .* [0-9.]+s? +[0-9.]+s?$" "$TMP/frame"
check "at most 24 lines" test "$(wc -l <"$TMP/frame")" -le 24
check "no line over 80 columns" test "$(awk 'length($0) > 80' "$TMP/frame" | wc -l)" = 0
check "no escape or control character" test "$(tr -d '\n' <"$TMP/frame" | tr -d '[:print:]' | wc -c)" = 0

# with an archive: p50/p99 from its rollups (the table of the archive contract)
"$PY" - "$TMP/archive.db" "$(now_ms)" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript("""CREATE TABLE rollups(minute_ms INTEGER NOT NULL, queue TEXT NOT NULL,
  type TEXT NOT NULL, done INTEGER NOT NULL, dead INTEGER NOT NULL, retried INTEGER NOT NULL,
  cancelled INTEGER NOT NULL, rate_limited INTEGER NOT NULL, run_p50_ms REAL, run_p95_ms REAL,
  run_p99_ms REAL, wait_p50_ms REAL, wait_p95_ms REAL, wait_p99_ms REAL,
  PRIMARY KEY(minute_ms, queue, type));""")
m = int(sys.argv[2]) // 60000 * 60000
db.execute("INSERT INTO rollups VALUES(?, 'noop', 'noop', 40, 0, 0, 0, 0, 3, 4, 5, 123, 200, 456)", (m,))
db.commit()
PY
ctl top --once --archive "$TMP/archive.db" >"$TMP/frame2"
check "--archive: p50/p99 from the rollups" grep -Eq "^noop .* 123 +456$" "$TMP/frame2"
check "--archive: says so, with the run time" grep -q "queue wait, archive rollups of 5 min; run p50 3 p99 5 ms" "$TMP/frame2"
ctl top --once --archive "$TMP/none.db" >"$TMP/frame3"
check "--archive missing: falls back and says no archive" grep -q "done jobs per queue (no archive)" "$TMP/frame3"

stop "$(pid_of w1)"

# in a terminal (script(1) gives it one, 80x24): frames drawn with escapes;
# Redis going away is said on screen, and top carries on when it is back
start_bg toptty "$TMP/top.tty" script -qfec "stty cols 80 rows 24; exec '$SLUICE_BIN/sluice-ctl' top 2>>'$TMP/ctl.log'" /dev/null
after() { "$PY" -c 'import sys; t = open(sys.argv[1], "rb").read(); i = t.rfind(sys.argv[2].encode()); print("yes" if i >= 0 and sys.argv[3].encode() in t[i:] else "no")' "$TMP/top.tty" "$1" "$2"; }
check "top draws frames in a terminal" wait_until 10 "grep -aq '$SLUICE_PREFIX  [0-9:]*Z  queues 4  ready' '$TMP/top.tty'"
check "the alternate screen, cursor home" grep -aqF "$(printf '\033[?1049h')" "$TMP/top.tty"
stop "$REDIS_PID"
check "redis gone: top says so" wait_until 10 "grep -aq 'redis is out of reach; trying again' '$TMP/top.tty'"
check "top is still running" alive "$(pid_of toptty)"
restart_redis
check "redis back (empty): frames again" wait_until 10 '[ "$(after "out of reach" "queues 0  ready 0")" = yes ]'
kill -INT "$(ps -o pid= --ppid "$(pid_of toptty)")" # Ctrl-C, to top itself
check "Ctrl-C: top ends" wait_until 10 "! alive $(pid_of toptty)"
check "the terminal is given back (main screen, cursor)" grep -aqF "$(printf '\033[?25h\033[?1049l')" "$TMP/top.tty"
assert_nothing_running
finish
