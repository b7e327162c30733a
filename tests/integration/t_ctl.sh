# t_ctl.sh — sluice-ctl against a private redis-server: stats, show, dead,
# retry, cancel, pause/resume and workers, with real producers and workers.
. "$(dirname "$0")/lib.sh"

start_redis

# ctl ARGS...: sluice-ctl in the foreground, like lib.sh's producer: its
# stderr goes to our stderr and to $TMP/ctl.log for the sanitizer check.
CTL_RUNS=0
ctl() {
    CTL_RUNS=$((CTL_RUNS + 1))
    local errf="$TMP/ctl.$CTL_RUNS.err" rc=0
    "$SLUICE_BIN/sluice-ctl" "$@" 2>"$errf" || rc=$?
    cat "$errf" >&2
    cat "$errf" >>"$TMP/ctl.log"
    rm -f "$errf"
    return $rc
}

# check NAME CMD...: ok when CMD succeeds, FAIL (naming CMD) when not.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else fail "$name (command: $*)"; fi
}
# eventually CONDITION: true once the shell CONDITION holds, polled for up to 10 s.
eventually() { wait_until 10 "$1"; }

# jget EXPR: evaluates the Python expression EXPR with d = the JSON on stdin.
jget() { "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# a worker that beats every 200 ms, so `workers` lists it at once; WPID is its pid
worker() {
    start_worker "$@" --heartbeat-ms 200
    WPID=$LAST_PID
}
stat() { ctl stats --json | jget "$1"; }

# --- usage -------------------------------------------------------------------
out=$(ctl --help)
check "--help exits 0" test $? -eq 0
for cmd in stats show dead retry cancel pause resume workers; do
    check "--help lists $cmd" grep -q "^  $cmd " <<<"$out"
    ctl "$cmd" --help >"$TMP/out"
    check "$cmd --help" grep -q "usage: sluice-ctl $cmd" "$TMP/out"
done
ctl frobnicate >/dev/null 2>"$TMP/err"
check "unknown command exits 2" test $? -eq 2
check "unknown command is named" grep -q 'unknown command "frobnicate"' "$TMP/err"
ctl show >/dev/null 2>"$TMP/err"
check "missing argument exits 2" test $? -eq 2
check "missing argument is named" grep -q "missing job ID" "$TMP/err"
ctl stats --limit 3 >/dev/null 2>&1
check "option of another command exits 2" test $? -eq 2
ctl stats --redis-url "redis://u:s3cret-pw@127.0.0.1:1/0" >"$TMP/out" 2>"$TMP/err"
check "unreachable redis exits 2" test $? -eq 2
check "unreachable redis: says what to fix" grep -q "cannot connect.*SLUICE_REDIS_URL" "$TMP/err"
check "the password is never printed" bash -c "! grep -q s3cret-pw '$TMP/out' '$TMP/err'"

# --- stats, show, cancel, dead, retry ------------------------------------------
BASE_PREFIX=$SLUICE_PREFIX
export SLUICE_PREFIX=$BASE_PREFIX-ctl
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
ctl stats >"$TMP/out"
check "stats: table has a row per queue" bash -c "grep -q '^QUEUE ' '$TMP/out' && grep -q '^noop ' '$TMP/out' && grep -q '^fail ' '$TMP/out'"

ctl show "$n2" >"$TMP/out"
check "show: ready with its priority" grep -q "^state: ready (priority high, position 0" "$TMP/out"
check "show: the envelope follows" grep -q "\"id\": \"$n2\"" "$TMP/out"
check "show --json after the id: ready" test "$(ctl show "$n2" --json | jget 'd["state"]+" "+d["queue"]+" "+d["job"]["id"]')" = "ready noop $n2"
# in the future and no further than its delay (however long the enqueue took)
check "show: delayed, run-at in the future" test "$(ctl show "$dl" --json | jget 'd["state"]+" "+str(0 < d["score_ms"]-d["now_ms"] <= 600000)')" = "delayed True"
ctl show NOSUCHJOB >/dev/null 2>"$TMP/err"
check "show: unknown id exits 1" test $? -eq 1
check "show: unknown id message" grep -q "no job NOSUCHJOB in any queue" "$TMP/err"

out=$(ctl cancel "$dl")
check "cancel: a delayed job" test "$out" = "cancelled $dl"
check "cancel: its state is cancelled" test "$(ctl show "$dl" --json | jget 'd["state"]')" = cancelled
check "cancel: it is in dead" test -n "$(rcli zscore "$SLUICE_PREFIX:{noop}:dead" "$dl")"
check "cancel: last_error rewritten" test "$(rcli get "$SLUICE_PREFIX:{noop}:job:$dl" | jget 'd["last_error"]')" = "cancelled by sluice-ctl"
check "cancel: counted" test "$(stat 'd["queues"]["noop"]["counters"]["cancelled"]')" = 1

worker w1 --queues noop,fail
W1=$WPID
done_dead() { stat 'str(d["queues"]["noop"]["done"]) + " " + str(d["queues"]["fail"]["dead"])'; }
check "worker runs the jobs (done 2, dead 2)" eventually '[ "$(done_dead 2>/dev/null)" = "2 2" ]'
check "stats: processed counted" test "$(stat 'd["queues"]["noop"]["counters"]["processed"]')" = 2
check "stats: dead counted" test "$(stat 'd["queues"]["fail"]["counters"]["dead"]')" = 2
check "workers: lists the running worker" eventually "ctl workers | grep -q ' running .* $W1 '"
check "workers --json: pid and state" test "$(ctl workers --json | jget "[w['state'] for w in d['workers'] if w.get('pid') == $W1][0]")" = running
ctl workers >"$TMP/out"
check "workers: seconds since heartbeat" awk 'NR == 2 { exit !($NF ~ /^[0-9]+\.[0-9]$/) }' "$TMP/out"
check "stats --json: workers" test "$(stat 'd["workers"]')" -ge 1
stop "$W1"

ctl show "$n1" >"$TMP/out"
check "show: done with its finish time" grep -Eq "^state: done \(finished at [0-9-]{10}T[0-9:.]{12}Z" "$TMP/out"
check "show: dead" test "$(ctl show "$f1" --json | jget 'd["state"]')" = dead
ctl cancel "$n1" >/dev/null 2>"$TMP/err"
check "cancel: a done job exits 1" test $? -eq 1
check "cancel: a done job is refused" grep -q "$n1 is done: only ready or delayed jobs can be cancelled" "$TMP/err"

ctl dead --queue fail >"$TMP/out"
check "dead: newest first" bash -c "[ \"\$(awk 'NR > 1 { print \$3 }' '$TMP/out' | tr '\n' ' ')\" = '$f2 $f1 ' ]"
check "dead: time, type, attempts, error" grep -Eq "^[0-9-]{10}T[0-9:.]{12}Z +fail +$f1 +fail +1 +fail: permanent failure" "$TMP/out"
check "dead --limit" test "$(ctl dead --limit 1 --json | jget 'len(d["jobs"])')" = 1
check "dead (every queue) counts the cancelled job" test "$(ctl dead --json | jget 'd["total"]')" = 3

out=$(ctl retry "$f1")
check "retry: one dead job" test "$out" = "revived 1 job"
check "retry: back in ready" test "$(ctl show "$f1" --json | jget 'd["state"]+" "+d["priority"]')" = "ready normal"
check "retry: attempts reset" test "$(rcli get "$SLUICE_PREFIX:{fail}:job:$f1" | jget 'd["attempts"]')" = 0
ctl retry "$n1" >/dev/null 2>&1
check "retry: a done job exits 1" test $? -eq 1
ctl retry --all-dead >/dev/null 2>&1
check "retry --all-dead without --queue exits 2" test $? -eq 2
out=$(ctl retry --all-dead --queue fail)
check "retry --all-dead" test "$out" = "revived 1 job"
check "retry --all-dead: priority kept" test "$(ctl show "$f2" --json | jget 'd["state"]+" "+d["priority"]')" = "ready low"
check "stats: revived counted" test "$(stat 'd["queues"]["fail"]["counters"]["revived"]')" = 2

# An active job: the lease deadline is in the future while it runs.
s1=$(enqueue --type sleep --payload '{"ms":20000}')
worker w4 --queues sleep --grace-ms 0
W4=$WPID
check "show: active" eventually "ctl show $s1 --json | grep -q '\"state\":\"active\"'"
ctl show "$s1" >"$TMP/out"
check "show: active with its lease deadline" grep -Eq "^state: active \(lease deadline .*Z, in [0-9]+ ms\)" "$TMP/out"
ctl cancel "$s1" >/dev/null 2>"$TMP/err"
check "cancel: an active job is refused" grep -q "is active: only ready or delayed" "$TMP/err"
stop "$W4"
check "show: handed back to ready on stop" test "$(ctl show "$s1" --json | jget 'd["state"]')" = ready

# A malformed job: the worker keeps its text under "raw"; show and retry cope.
rcli set "$SLUICE_PREFIX:{noop}:job:BAD1" 'this is {not json' >/dev/null
rcli rpush "$SLUICE_PREFIX:{noop}:ready:normal" BAD1 >/dev/null
check "show: a body that is not JSON" test "$(ctl show BAD1 --queue noop --json | jget 'd["state"]+"|"+d["raw"]')" = "ready|this is {not json"
worker w2 --queues noop
W2=$WPID
check "malformed job goes to dead" eventually "ctl show BAD1 --json | grep -q '\"state\":\"dead\"'"
stop "$W2"
ctl show BAD1 >"$TMP/out"
check "show: the dead record with raw" grep -q '"raw": "this is {not json"' "$TMP/out"
ctl retry BAD1 >/dev/null
check "retry: raw text put back" test "$(rcli get "$SLUICE_PREFIX:{noop}:job:BAD1")" = "this is {not json"

# --- pause / resume ------------------------------------------------------------
export SLUICE_PREFIX=$BASE_PREFIX-pause
ctl pause noop >"$TMP/out" 2>/dev/null
check "pause" grep -q "^paused noop" "$TMP/out"
p1=$(enqueue --type noop --payload '{}')
check "stats: paused queue shows paused" test "$(stat 'd["queues"]["noop"]["paused"]')" = True
worker w3 --queues noop
W3=$WPID
check "worker up" eventually "ctl workers | grep -q ' $W3 '"
sleep 1 # give it every chance to claim (it must not)
check "pause: the worker ran nothing" test "$(ctl show "$p1" --json | jget 'd["state"]')" = ready
check "pause: nothing processed" test "$(stat 'd["queues"]["noop"]["counters"]["processed"]')" = 0
check "resume" test "$(ctl resume noop)" = "resumed noop"
check "resume: the job runs" eventually "ctl show $p1 --json | grep -q '\"state\":\"done\"'"
stop "$W3"

# --- nothing left running --------------------------------------------------------
assert_nothing_running
finish
