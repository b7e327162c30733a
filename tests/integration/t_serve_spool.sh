# t_serve_spool: the HTTP intake with --spool.
#  1. Redis stopped in the middle of a load (2,000 single POSTs and 100
#     arrays of 10 from 8 keep-alive connections), then started again:
#     every request is answered 201 or 202 "spooled", and a worker runs
#     every accepted job exactly once (each id and each payload marker once
#     among the done jobs, processed = accepted).
#  2. 50,000 jobs spooled; the intake killed with SIGKILL in the middle of
#     its flush, 3 to 5 times (after a random number of its enqueue calls
#     ran), and started again: each job in Redis once, run once.
#  3. The spool full: 503 + Retry-After naming --spool-max-mb; nothing of
#     the refused request is spooled; /readyz ready with Redis down and room
#     in the spool, not ready once it is full.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

start_redis --aof
SPOOL=$TMP/spool.db

spool_jobs() { curl -s "$I/readyz" | jq -r '.spool.jobs'; }
progress() { [ -f "$1.progress" ] && grep -c . "$1.progress" || echo 0; }

# done jobs: "ID MARKER" lines
done_markers() {
    rcli --raw eval "
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local b = redis.call('GET', ARGV[1] .. id)
    out[#out + 1] = id .. ' ' .. (b and tostring(cjson.decode(b).payload.m) or 'gone')
end
return out" 1 "$(k done)" "$SLUICE_PREFIX:{$Q}:job:"
}

# check_once N ANSWERS: the done jobs are the N accepted ones, each once
check_once() {
    local n=$1 answers=$2
    wait_until 120 "[ \"\$(zcard done)\" -ge $n ]" ||
        fail "only $(zcard done) of $n jobs done ($(ready_total) ready, $(zcard active) active)"
    assert_eq "$n" "$(zcard done)" "jobs done"
    assert_eq "$n" "$(stat_of processed)" "jobs processed (a job run twice counts twice)"
    done_markers | sort >"$TMP/done"
    awk '{print $2}' "$TMP/done" | sort -n >"$TMP/done.m"
    assert_eq 0 "$(uniq -d "$TMP/done.m" | grep -c .)" "payload markers run twice"
    awk '$1 == 201 || $1 == 202 {print $3 " " $2}' "$answers" | sort >"$TMP/accepted"
    assert_eq 0 "$(comm -3 "$TMP/accepted" "$TMP/done" | grep -c .)" \
        "accepted (id, marker) pairs not done, or done but not accepted"
}

# ---- 1. Redis stopped in the middle of a load --------------------------
start_intake --no-auth --spool "$SPOOL"
ANS=$TMP/answers1
"$PY" "$(dirname "$0")/serve_spool_client.py" "$I" "$ANS" 2000 100 10 8 1 &
CLIENT=$!
ALL_PIDS+=("$CLIENT")
wait_until 60 "[ \$(progress $ANS) -ge 300 ]" || die "the client did not start"
stop "$REDIS_PID" 15
say "# redis stopped after $(progress "$ANS") requests"
wait_until 60 "[ \$(progress $ANS) -ge 1300 ] || ! alive $CLIENT"
_redis_launch || die "redis-server does not restart"
say "# redis started again after $(progress "$ANS") requests"
wait "$CLIENT" || fail "the client failed"
assert_eq 3000 "$(grep -c . "$ANS")" "jobs answered"
n201=$(awk '$1 == 201' "$ANS" | grep -c .)
n202=$(awk '$1 == 202' "$ANS" | grep -c .)
say "# $n201 jobs answered 201, $n202 answered 202 spooled"
assert_eq 3000 $((n201 + n202)) "jobs answered 201 or 202 with \"spooled\""
[ "$n201" -gt 0 ] && [ "$n202" -gt 0 ] && ok "some jobs stored at once, some spooled" ||
    fail "expected both 201 and 202 answers: $n201 / $n202"
wait_until 60 "[ \"\$(spool_jobs)\" = 0 ]" || fail "the spool still holds $(spool_jobs) jobs"
grep -o 'flush: the spool is empty.*' "$TMP/intake.log" | sed 's/^/# /'
# the worker starts once Redis is back: a worker cut off by the outage
# may run a job again by design (its ack lost), which is not the intake's
start_worker w --queues q
check_once 3000 "$ANS"
stop "$(pid_of w)" 15
stop "$INTAKE_PID" 15
assert_eq 0 "$STOP_KILLED" "the intake stopped on SIGTERM"

# ---- 2. kill -9 in the middle of the flush ------------------------------
rcli flushall >/dev/null
N=50000
stop "$REDIS_PID" 15
start_intake --no-auth --spool "$SPOOL"
ANS=$TMP/answers2
"$PY" "$(dirname "$0")/serve_spool_client.py" "$I" "$ANS" 0 50 1000 2 1 || fail "client"
assert_eq $N "$(awk '$1 == 202' "$ANS" | grep -c .)" "jobs spooled while redis is down"
calls() {
    local n
    n=$(rcli info commandstats | tr -d '\r' | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p')
    echo "${n:-0}"
}
stop "$INTAKE_PID" 15
_redis_launch || die "redis-server does not restart"
killed=0
left=$N
for round in 1 2 3 4 5; do
    # the random point of the kill: after 1 to 1/2 of the calls this flush
    # would make (500 jobs a call)
    ncalls=$(((left + 499) / 500))
    target=$(($(calls) + 1 + RANDOM % (ncalls > 4 ? ncalls / 2 : 1)))
    start_bg intake "$TMP/intake.log" "$SLUICE_BIN/sluice-producer" serve --no-auth \
        --redis-url "redis://127.0.0.1:$REDIS_PORT" --listen "127.0.0.1:$INTAKE_PORT" --spool "$SPOOL"
    pid=$LAST_PID
    wait_until 60 "[ \"\$(calls)\" -ge $target ] || ! alive $pid"
    kill -KILL "$pid" 2>/dev/null
    reap "$pid"
    [ "$STOP_STATUS" = 137 ] && killed=$((killed + 1))
    left=$("$SLUICE_BIN/sluice-ctl" spool "$SPOOL" --json | jq -r .jobs)
    say "# round $round: killed after call $target (status $STOP_STATUS), $left jobs still spooled, $(ready_total) in redis"
    [ "$left" -gt 0 ] || break
done
[ "$killed" -ge 3 ] && ok "$killed intakes killed in the middle of the flush" ||
    fail "only $killed of the intakes were killed before the flush ended"
start_intake --no-auth --spool "$SPOOL"
wait_until 60 "[ \"\$(spool_jobs)\" = 0 ]" || fail "the spool still holds $(spool_jobs) jobs"
assert_eq $N "$(ready_total)" "jobs in ready after the flushes"
start_worker w2 --queues q
check_once $N "$ANS"
stop "$(pid_of w2)" 15
stop "$INTAKE_PID" 15

# ---- 3. the spool full; /readyz ------------------------------------------
stop "$REDIS_PID" 15
SPOOL=$TMP/small.db
start_intake --no-auth --spool "$SPOOL" --spool-max-mb 1
req GET /readyz ""
assert_eq 200 "$CODE" "readyz with redis down and room in the spool"
assert_eq "ready down true" "$(jq_of '"\(.status) \(.redis) \(.spool.room)"')" "readyz says why"
pad=$(head -c 900 /dev/zero | tr '\0' x)
arr=$("$PY" -c 'import json,sys; print(json.dumps({"jobs": [{"type": "noop", "queue": "q", "payload": {"pad": sys.argv[1], "m": i}} for i in range(100)]}))' "$pad")
spooled=0
for i in $(seq 1 30); do
    post_json /v1/jobs "" "$arr"
    [ "$CODE" = 202 ] || break
    spooled=$((spooled + 100))
done
assert_eq 503 "$CODE" "an array that does not fit"
assert_contains "$BODY" "--spool-max-mb 1" "the error names the option and the limit"
assert_contains "$HDRS" "Retry-After: " "503 with Retry-After"
assert_eq $spooled "$(spool_jobs)" "jobs in the spool: nothing of the refused array"
one="{\"type\":\"noop\",\"queue\":\"q\",\"payload\":{\"pad\":\"$pad\"}}"
for i in $(seq 1 200); do
    post_json /v1/jobs "" "$one"
    [ "$CODE" = 202 ] || break
done
assert_eq 503 "$CODE" "a single job once the spool is full"
req GET /readyz ""
assert_eq 503 "$CODE" "readyz with redis down and the spool full"
assert_eq "not ready down false" "$(jq_of '"\(.status) \(.redis) \(.spool.room)"')" "readyz says why"
_redis_launch || die "redis-server does not restart"
wait_until 30 "[ \"\$(spool_jobs)\" = 0 ]" || fail "the spool still holds $(spool_jobs) jobs"
req GET /readyz ""
assert_eq "200 ready up" "$CODE $(jq_of '"\(.status) \(.redis)"')" "readyz once redis is back"
stop "$INTAKE_PID" 15

assert_nothing_running
finish
