# t_ls_purge.sh — sluice-ctl ls (each state, its order, its columns) and
# purge (refused without --yes and for states that are not finished; dead
# and done deleted in batches, bodies with them, nothing else touched).
. "$(dirname "$0")/lib.sh"

start_redis

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
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else fail "$name (command: $*)"; fi
}
jget() { "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

export SLUICE_PREFIX=$SLUICE_PREFIX-ls
# --- ready: claim order across the four lists --------------------------------
lo=$(enqueue --type noop --payload '{}' --priority low)
no=$(enqueue --type noop --payload '{}')
hi=$(enqueue --type noop --payload '{}' --priority high)
cr=$(enqueue --type noop --payload '{}' --priority critical)
no2=$(enqueue --type noop --payload '{}')
check "ls ready: claim order" test "$(ctl ls ready --json | jget '" ".join(j["id"] for j in d["jobs"])')" = "$cr $hi $no $no2 $lo"
ctl ls ready >"$TMP/out"
check "ls ready: priority and position columns" grep -Eq "^normal +1 +noop +$no2 +0 +noop" "$TMP/out"
check "ls ready --limit: cut and says so" test "$(ctl ls ready --limit 2 --json | jget 'str(len(d["jobs"]))+" "+str(d["total"])')" = "2 5"
ctl ls ready --limit 2 >"$TMP/out"
check "ls ready --limit: the note" grep -q "(2 of 5 ready jobs; see --limit)" "$TMP/out"

# --- delayed: soonest first, with a readable time -----------------------------
d2=$(enqueue --type noop --payload '{}' --delay-ms 7200000)
d1=$(enqueue --type noop --payload '{}' --delay-ms 600000)
check "ls delayed: soonest first" test "$(ctl ls delayed --json | jget '" ".join(j["id"] for j in d["jobs"])')" = "$d1 $d2"
ctl ls delayed >"$TMP/out"
check "ls delayed: time and how far" grep -Eq "^[0-9-]{10}T[0-9:]{8}Z +in 9m5[0-9]s +noop +$d1 " "$TMP/out"

# --- dead (with the reason), done, active -------------------------------------
f1=$(enqueue --type fail --payload '{"permanent":true}')
f2=$(enqueue --type fail --payload '{"permanent":true}')
start_worker w1 --queues noop,fail
check "the worker runs them" wait_until 10 '[ "$(zcard dead fail)" = 2 ] && [ "$(zcard done noop)" = 5 ]'
stop "$(pid_of w1)"
ctl ls dead >"$TMP/out"
check "ls dead: newest first" test "$(ctl ls dead --json | jget '" ".join(j["id"] for j in d["jobs"])')" = "$f2 $f1"
check "ls dead: the reason" grep -Eq "ago +fail +$f1 +1 +fail +fail: permanent failure" "$TMP/out"
check "ls dead --json: last_error whole" test "$(ctl ls dead --json | jget 'd["jobs"][0]["last_error"]')" = "fail: permanent failure requested by the payload"
check "ls done: five, newest first" test "$(ctl ls done --queue noop --json | jget 'str(len(d["jobs"]))+" "+str([j["score_ms"] for j in d["jobs"]] == sorted((j["score_ms"] for j in d["jobs"]), reverse=True))')" = "5 True"
ctl ls done >"$TMP/out"
check "ls done: finished ... ago" grep -Eq "^[0-9-]{10}T[0-9:]{8}Z +[0-9]+(ms|s) ago +noop " "$TMP/out"
s1=$(enqueue --type sleep --payload '{"ms":600000}' --timeout-ms 900000)
start_worker w2 --queues sleep --grace-ms 0
check "ls active: the running job and its worker" wait_until 10 "ctl ls active --json | grep -q '\"worker\":\"w2-$$\"'"
ctl ls active >"$TMP/out"
check "ls active: lease deadline in the future" grep -Eq "in [0-9]+s +sleep +$s1 +0 +sleep +w2-$$" "$TMP/out"
ctl ls bogus >/dev/null 2>"$TMP/err"
check "ls: unknown state exits 2" test $? -eq 2
check "ls: unknown state named" grep -q 'unknown state "bogus"' "$TMP/err"

# --- purge ---------------------------------------------------------------------
ctl purge fail --state dead >"$TMP/out" 2>"$TMP/err"
check "purge without --yes exits 2" test $? -eq 2
check "purge without --yes says so and how many" grep -q "refusing without --yes: this deletes 2 dead jobs of queue fail" "$TMP/err"
check "purge without --yes deleted nothing" test "$(zcard dead fail)" = 2
ctl purge sleep --state active --yes >/dev/null 2>"$TMP/err"
check "purge --state active refused" grep -q "state active is refused" "$TMP/err"
check "purge --state active: the job still runs" test "$(zcard active sleep)" = 1
stop "$(pid_of w2)"
ctl purge noop --state ready --yes >/dev/null 2>"$TMP/err"
check "purge --state ready refused" grep -q "state ready is refused.*cancel them first" "$TMP/err"
ctl purge noop --yes >/dev/null 2>"$TMP/err"
check "purge without --state exits 2" test $? -eq 2

# 1,234 dead jobs (more than two batches) beside ready, delayed and done ones
{
    for i in $(seq 1 1234); do
        echo "SET $SLUICE_PREFIX:{noop}:job:X$i {\"id\":\"X$i\",\"type\":\"noop\",\"last_error\":\"x\"}"
        echo "ZADD $SLUICE_PREFIX:{noop}:dead $i X$i"
    done
} | rcli >/dev/null
out=$(ctl purge noop --state dead --yes)
check "purge: prints how many" test "$out" = "purged 1234 dead jobs of queue noop"
check "purge: dead is empty" test "$(zcard dead noop)" = 0
check "purge: the bodies are gone" test "$(rcli --scan --pattern "$SLUICE_PREFIX:{noop}:job:X*" | wc -l)" = 0
check "purge: done untouched" test "$(zcard done noop)" = 5
check "purge: delayed untouched" test "$(zcard delayed noop)" = 2
check "purge: other queues untouched" test "$(zcard dead fail)" = 2
out=$(ctl purge noop --state dead,done --yes)
check "purge dead,done" test "$out" = "purged 5 done jobs of queue noop
purged 0 dead jobs of queue noop"
check "purge done: the bodies are gone" test -z "$(rcli get "$SLUICE_PREFIX:{noop}:job:$cr")"
check "purge done: the delayed ones stay" test -n "$(rcli get "$SLUICE_PREFIX:{noop}:job:$d1")"

assert_nothing_running
finish
