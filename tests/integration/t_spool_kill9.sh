# t_spool_kill9: `sluice-producer flush` killed with SIGKILL in the middle
# of a flush, five times at random points, then a last flush: every spooled
# job is in Redis exactly once (each id once in the ready list, each payload
# marker once, one job key each), with and without idempotency keys, and
# the spool is empty.
. "$(dirname "$0")/lib.sh"

N=60000
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

for round in 1 2 3 4 5; do
    "$SLUICE_BIN/sluice-producer" flush --spool "$SPOOL" >>"$TMP/flush.out" 2>>"$TMP/producer.log" &
    pid=$!
    ALL_PIDS+=("$pid")
    ms=$((50 + RANDOM % 1200))
    sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))" # the random point of the kill
    kill -KILL "$pid" 2>/dev/null
    reap "$pid"
    left=$("$SLUICE_BIN/sluice-ctl" spool "$SPOOL" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["jobs"])')
    say "# round $round: killed after ${ms} ms (status $STOP_STATUS), $left jobs still spooled, $(ready_total) in redis"
done
[ "$left" -gt 0 ] && ok "the last kill came before the flush ended ($left left)" ||
    say "# every job was flushed before the last kill"

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
