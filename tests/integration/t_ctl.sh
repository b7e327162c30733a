#!/usr/bin/env bash
# t_ctl.sh — sluice-ctl against a private redis-server: stats, show, dead,
# retry, cancel, pause/resume and workers, with real producers and workers.
# Standalone: bash tests/integration/t_ctl.sh (binaries from ${SLUICE_BIN:-bin}).
# Prints "ok - name" / "not ok - name" per check; exits 1 if any failed.
set -u

BIN=${SLUICE_BIN:-bin}
CTL=$BIN/sluice-ctl
PRODUCER=$BIN/sluice-producer
WORKER=$BIN/sluice-worker
for b in "$CTL" "$PRODUCER" "$WORKER"; do
    [ -x "$b" ] || { echo "t_ctl: $b is missing (make bin/sluice-ctl bin/sluice-producer bin/sluice-worker)" >&2; exit 2; }
done

TMP=$(mktemp -d)
REDIS_PID=
WORKER_PIDS=()
FAILED=0

cleanup() {
    for p in "${WORKER_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cat >"$TMP/redis.conf" <<EOF
port $PORT
bind 127.0.0.1
save ""
appendonly no
dir $TMP
EOF
redis-server "$TMP/redis.conf" >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
export SLUICE_REDIS_URL=redis://127.0.0.1:$PORT/0

# wait_for CMD...: true once CMD succeeds, polling every 50 ms for up to 10 s.
wait_for() {
    for _ in $(seq 200); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}

ok() { echo "ok - $1"; }
notok() {
    echo "not ok - $1"
    [ $# -gt 1 ] && printf '#   %s\n' "$2"
    FAILED=1
}
check() { # check NAME CMD...
    local name=$1
    shift
    if "$@"; then ok "$name"; else notok "$name" "command: $*"; fi
}

# jget EXPR: evaluates the Python expression EXPR with d = the JSON on stdin.
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

wait_for redis-cli -p "$PORT" ping || { echo "not ok - redis-server did not start"; cat "$TMP/redis.log"; exit 1; }
ok "redis-server up on port $PORT"

start_worker() { # start_worker LOGNAME ARGS...: sets WPID
    local log=$1
    shift
    "$WORKER" --heartbeat-ms 200 "$@" >"$TMP/$log.log" 2>&1 &
    WPID=$!
    WORKER_PIDS+=("$WPID")
}
stop_worker() { # stop_worker PID: SIGTERM, then wait (bounded) until it is gone
    kill -TERM "$1" 2>/dev/null
    wait_for bash -c "! kill -0 $1 2>/dev/null"
    wait "$1" 2>/dev/null
}
enqueue() { "$PRODUCER" enqueue "$@"; }
stat() { "$CTL" stats --json | jget "$1"; }

# --- usage -------------------------------------------------------------------
out=$("$CTL" --help)
check "--help exits 0" test $? -eq 0
for cmd in stats show dead retry cancel pause resume workers; do
    check "--help lists $cmd" grep -q "^  $cmd " <<<"$out"
    "$CTL" "$cmd" --help >"$TMP/out"
    check "$cmd --help" grep -q "usage: sluice-ctl $cmd" "$TMP/out"
done
"$CTL" frobnicate >/dev/null 2>"$TMP/err"
check "unknown command exits 2" test $? -eq 2
check "unknown command is named" grep -q 'unknown command "frobnicate"' "$TMP/err"
"$CTL" show >/dev/null 2>"$TMP/err"
check "missing argument exits 2" test $? -eq 2
check "missing argument is named" grep -q "missing job ID" "$TMP/err"
"$CTL" stats --limit 3 >/dev/null 2>&1
check "option of another command exits 2" test $? -eq 2
"$CTL" stats --redis-url "redis://u:s3cret-pw@127.0.0.1:1/0" >"$TMP/out" 2>"$TMP/err"
check "unreachable redis exits 2" test $? -eq 2
check "unreachable redis: says what to fix" grep -q "cannot connect.*SLUICE_REDIS_URL" "$TMP/err"
check "the password is never printed" bash -c "! grep -q s3cret-pw '$TMP/out' '$TMP/err'"

# --- stats, show, cancel, dead, retry ------------------------------------------
export SLUICE_PREFIX=tctl
n1=$(enqueue --type noop --payload '{}')
n2=$(enqueue --type noop --payload '{}' --priority high)
dl=$(enqueue --type noop --payload '{}' --delay-ms 600000)
f1=$(enqueue --type fail --payload '{"permanent":true}')
f2=$(enqueue --type fail --payload '{"permanent":true}' --priority low)
check "stats: ready normal" test "$(stat 'd["queues"]["noop"]["ready"]["normal"]')" = 1
check "stats: ready high" test "$(stat 'd["queues"]["noop"]["ready"]["high"]')" = 1
check "stats: delayed" test "$(stat 'd["queues"]["noop"]["delayed"]')" = 1
check "stats: counters.enqueued" test "$(stat 'd["queues"]["noop"]["counters"]["enqueued"]')" = 3
check "stats: missing counters are 0" test "$(stat 'd["queues"]["fail"]["counters"]["revived"]')" = 0
check "stats: not paused" test "$(stat 'd["queues"]["noop"]["paused"]')" = False
"$CTL" stats >"$TMP/out"
check "stats: table has a row per queue" bash -c "grep -q '^QUEUE ' '$TMP/out' && grep -q '^noop ' '$TMP/out' && grep -q '^fail ' '$TMP/out'"

"$CTL" show "$n2" >"$TMP/out"
check "show: ready with its priority" grep -q "^state: ready (priority high, position 0" "$TMP/out"
check "show: the envelope follows" grep -q "\"id\": \"$n2\"" "$TMP/out"
check "show --json after the id: ready" test "$("$CTL" show "$n2" --json | jget 'd["state"]+" "+d["queue"]+" "+d["job"]["id"]')" = "ready noop $n2"
# in the future and no further than its delay (however long the enqueue took)
check "show: delayed, run-at in the future" test "$("$CTL" show "$dl" --json | jget 'd["state"]+" "+str(0 < d["score_ms"]-d["now_ms"] <= 600000)')" = "delayed True"
"$CTL" show NOSUCHJOB >/dev/null 2>"$TMP/err"
check "show: unknown id exits 1" test $? -eq 1
check "show: unknown id message" grep -q "no job NOSUCHJOB in any queue" "$TMP/err"

out=$("$CTL" cancel "$dl")
check "cancel: a delayed job" test "$out" = "cancelled $dl"
check "cancel: its state is cancelled" test "$("$CTL" show "$dl" --json | jget 'd["state"]')" = cancelled
check "cancel: it is in dead" test -n "$(redis-cli -p "$PORT" zscore "tctl:{noop}:dead" "$dl")"
check "cancel: last_error rewritten" test "$(redis-cli -p "$PORT" get "tctl:{noop}:job:$dl" | jget 'd["last_error"]')" = "cancelled by sluice-ctl"
check "cancel: counted" test "$(stat 'd["queues"]["noop"]["counters"]["cancelled"]')" = 1

start_worker w1 --queues noop,fail
W1=$WPID
check "worker runs the jobs (done 2, dead 2)" wait_for bash -c "[ \"\$('$CTL' stats --json | python3 -c 'import json,sys;d=json.load(sys.stdin)[\"queues\"];print(d[\"noop\"][\"done\"],d[\"fail\"][\"dead\"])')\" = '2 2' ]"
check "stats: processed counted" test "$(stat 'd["queues"]["noop"]["counters"]["processed"]')" = 2
check "stats: dead counted" test "$(stat 'd["queues"]["fail"]["counters"]["dead"]')" = 2
check "workers: lists the running worker" wait_for bash -c "'$CTL' workers | grep -q ' running .* $W1 '"
check "workers --json: pid and state" test "$("$CTL" workers --json | jget "[w['state'] for w in d['workers'] if w.get('pid') == $W1][0]")" = running
"$CTL" workers >"$TMP/out"
check "workers: seconds since heartbeat" awk 'NR == 2 { exit !($NF ~ /^[0-9]+\.[0-9]$/) }' "$TMP/out"
check "stats --json: workers" test "$(stat 'd["workers"]')" -ge 1
stop_worker "$W1"

"$CTL" show "$n1" >"$TMP/out"
check "show: done with its finish time" grep -Eq "^state: done \(finished at [0-9-]{10}T[0-9:.]{12}Z" "$TMP/out"
check "show: dead" test "$("$CTL" show "$f1" --json | jget 'd["state"]')" = dead
"$CTL" cancel "$n1" >/dev/null 2>"$TMP/err"
check "cancel: a done job exits 1" test $? -eq 1
check "cancel: a done job is refused" grep -q "$n1 is done: only ready or delayed jobs can be cancelled" "$TMP/err"

"$CTL" dead --queue fail >"$TMP/out"
check "dead: newest first" bash -c "[ \"\$(awk 'NR > 1 { print \$3 }' '$TMP/out' | tr '\n' ' ')\" = '$f2 $f1 ' ]"
check "dead: time, type, attempts, error" grep -Eq "^[0-9-]{10}T[0-9:.]{12}Z +fail +$f1 +fail +1 +fail: permanent failure" "$TMP/out"
check "dead --limit" test "$("$CTL" dead --limit 1 --json | jget 'len(d["jobs"])')" = 1
check "dead (every queue) counts the cancelled job" test "$("$CTL" dead --json | jget 'd["total"]')" = 3

out=$("$CTL" retry "$f1")
check "retry: one dead job" test "$out" = "revived 1 job"
check "retry: back in ready" test "$("$CTL" show "$f1" --json | jget 'd["state"]+" "+d["priority"]')" = "ready normal"
check "retry: attempts reset" test "$(redis-cli -p "$PORT" get "tctl:{fail}:job:$f1" | jget 'd["attempts"]')" = 0
"$CTL" retry "$n1" >/dev/null 2>&1
check "retry: a done job exits 1" test $? -eq 1
"$CTL" retry --all-dead >/dev/null 2>&1
check "retry --all-dead without --queue exits 2" test $? -eq 2
out=$("$CTL" retry --all-dead --queue fail)
check "retry --all-dead" test "$out" = "revived 1 job"
check "retry --all-dead: priority kept" test "$("$CTL" show "$f2" --json | jget 'd["state"]+" "+d["priority"]')" = "ready low"
check "stats: revived counted" test "$(stat 'd["queues"]["fail"]["counters"]["revived"]')" = 2

# An active job: the lease deadline is in the future while it runs.
s1=$(enqueue --type sleep --payload '{"ms":20000}')
start_worker w4 --queues sleep --grace-ms 0
W4=$WPID
check "show: active" wait_for bash -c "'$CTL' show $s1 --json | grep -q '\"state\":\"active\"'"
"$CTL" show "$s1" >"$TMP/out"
check "show: active with its lease deadline" grep -Eq "^state: active \(lease deadline .*Z, in [0-9]+ ms\)" "$TMP/out"
"$CTL" cancel "$s1" >/dev/null 2>"$TMP/err"
check "cancel: an active job is refused" grep -q "is active: only ready or delayed" "$TMP/err"
stop_worker "$W4"
check "show: handed back to ready on stop" test "$("$CTL" show "$s1" --json | jget 'd["state"]')" = ready

# A malformed job: the worker keeps its text under "raw"; show and retry cope.
redis-cli -p "$PORT" set "tctl:{noop}:job:BAD1" 'this is {not json' >/dev/null
redis-cli -p "$PORT" rpush "tctl:{noop}:ready:normal" BAD1 >/dev/null
check "show: a body that is not JSON" test "$("$CTL" show BAD1 --queue noop --json | jget 'd["state"]+"|"+d["raw"]')" = "ready|this is {not json"
start_worker w2 --queues noop
W2=$WPID
check "malformed job goes to dead" wait_for bash -c "'$CTL' show BAD1 --json | grep -q '\"state\":\"dead\"'"
stop_worker "$W2"
"$CTL" show BAD1 >"$TMP/out"
check "show: the dead record with raw" grep -q '"raw": "this is {not json"' "$TMP/out"
"$CTL" retry BAD1 >/dev/null
check "retry: raw text put back" test "$(redis-cli -p "$PORT" get "tctl:{noop}:job:BAD1")" = "this is {not json"

# --- pause / resume ------------------------------------------------------------
export SLUICE_PREFIX=tpause
"$CTL" pause noop >"$TMP/out" 2>/dev/null
check "pause" grep -q "^paused noop" "$TMP/out"
p1=$(enqueue --type noop --payload '{}')
check "stats: paused queue shows paused" test "$(stat 'd["queues"]["noop"]["paused"]')" = True
start_worker w3 --queues noop
W3=$WPID
check "worker up" wait_for bash -c "'$CTL' workers | grep -q ' $W3 '"
sleep 1 # give it every chance to claim (it must not)
check "pause: the worker ran nothing" test "$("$CTL" show "$p1" --json | jget 'd["state"]')" = ready
check "pause: nothing processed" test "$(stat 'd["queues"]["noop"]["counters"]["processed"]')" = 0
check "resume" test "$("$CTL" resume noop)" = "resumed noop"
check "resume: the job runs" wait_for bash -c "'$CTL' show $p1 --json | grep -q '\"state\":\"done\"'"
stop_worker "$W3"

# --- nothing left running --------------------------------------------------------
for p in "${WORKER_PIDS[@]}"; do
    kill -0 "$p" 2>/dev/null && notok "worker $p still running"
done
ok "no worker left running"

exit "$FAILED"
