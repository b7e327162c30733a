# t_spool_kill9: `sluice-producer flush` killed with SIGKILL in the middle
# of a flush, up to five times at random points (after a random number of
# its enqueue calls ran in Redis), then a last flush: every spooled
# job is in Redis exactly once (each id once in the ready list, each payload
# marker once, one job key each), with and without idempotency keys, and
# the spool is empty.
. "$(dirname "$0")/lib.sh"

N=100000
start_redis
SPOOL=$TMP/spool.db

# Redis gone: the whole load goes to the spool
stop "$REDIS_PID" 15
"$PY" -c '
import sys
for i in range(1, int(sys.argv[1]) + 1):
    key = ",\"idempotency_key\":\"k%d\"" % i if i % 3 == 0 else ""
    print("{\"type\":\"noop\",\"queue\":\"q\",\"payload\":{\"m\":%d}%s}" % (i, key))' $N |
    producer --ndjson - --spool "$SPOOL" >"$TMP/ids" || die "spooling failed"
assert_eq $N "$(grep -c . "$TMP/ids")" "ids printed while redis is down"
_redis_launch || die "redis-server does not restart"

# enqueue calls Redis has run so far (each carries up to 500 spooled jobs)
calls() {
    local n
    n=$(rcli info commandstats | tr -d '\r' | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p')
    echo "${n:-0}"
}
spooled() { "$SLUICE_BIN/sluice-ctl" spool "$SPOOL" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["jobs"])'; }
killed=0
left=$N
for round in 1 2 3 4 5; do
    # the random point of the kill: after 1 to 3/4 of the calls this
    # flush would make (copies sent again count as calls too)
    ncalls=$(((left + 499) / 500))
    target=$(($(calls) + 1 + RANDOM % (ncalls > 4 ? ncalls * 3 / 4 : 1)))
    "$SLUICE_BIN/sluice-producer" flush --spool "$SPOOL" >>"$TMP/flush.out" 2>>"$TMP/producer.log" &
    pid=$!
    ALL_PIDS+=("$pid")
    wait_until 60 "[ \"\$(calls)\" -ge $target ] || ! alive $pid"
    kill -KILL "$pid" 2>/dev/null
    reap "$pid"
    [ "$STOP_STATUS" = 137 ] && killed=$((killed + 1))
    left=$(spooled)
    say "# round $round: killed after call $target (status $STOP_STATUS), $left jobs still spooled, $(ready_total) in redis"
    [ "$left" -gt 0 ] || break
done
[ "$killed" -ge 3 ] && ok "$killed flushes killed in the middle" ||
    fail "only $killed of the flushes were killed before they ended"

producer flush --spool "$SPOOL" >"$TMP/last.out" || fail "the last flush failed"
cat "$TMP/last.out"
assert_contains "$(cat "$TMP/last.out")" "0 waiting" "the last flush empties the spool"

assert_eq $N "$(ready_total)" "jobs in ready"
rcli lrange "$(k ready:normal)" 0 -1 >"$TMP/ready"
assert_eq 0 "$(sort "$TMP/ready" | uniq -d | grep -c .)" "ids twice in ready"
sort "$TMP/ids" >"$TMP/ids.sorted"
assert_eq 0 "$(sort "$TMP/ready" | comm -3 - "$TMP/ids.sorted" | grep -c .)" "ids printed but not in ready, or in ready but not printed"
assert_eq $N "$(rcli --scan --pattern "$(k 'job:*')" | grep -c .)" "job keys"
rcli --raw eval "
local out = {}
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
    out[#out + 1] = cjson.decode(redis.call('GET', ARGV[1] .. id)).payload.m
end
return out" 1 "$(k ready:normal)" "$SLUICE_PREFIX:{$Q}:job:" | sort -n >"$TMP/markers"
assert_eq 0 "$(uniq -d "$TMP/markers" | grep -c .)" "payload markers twice"
assert_eq "$N 1 $N" "$(grep -c . "$TMP/markers") $(head -1 "$TMP/markers") $(tail -1 "$TMP/markers")" "markers 1..N"
assert_eq $N "$(stat_of enqueued)" "stats enqueued"

assert_nothing_running
finish
