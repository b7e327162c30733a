# t_spool: Redis is stopped in the middle of a bulk load with --spool, with
# calls in flight (held by CLIENT PAUSE). The producer still accepts every
# line (exit 0, one id per line, "spooled:" on stderr); once Redis is back,
# `sluice-producer flush` sends the spool, and a worker runs every accepted
# job exactly once: each id once in the worker's runs and in done, each
# payload marker once, nothing left in the spool.
. "$(dirname "$0")/lib.sh"

N=12000
start_redis --aof
rcli config set appendfsync always >/dev/null # a confirmed job survives the stop
SPOOL=$TMP/spool.db

"$PY" -c '
import sys
for i in range(1, int(sys.argv[1]) + 1):
    print("{\"type\":\"noop\",\"queue\":\"q\",\"payload\":{\"m\":%d}}" % i)' $N >"$TMP/jobs"

mkfifo "$TMP/in"
"$SLUICE_BIN/sluice-producer" --ndjson "$TMP/in" --spool "$SPOOL" --redis-timeout-ms 3000 \
    >"$TMP/ids" 2>"$TMP/producer.log" &
PROD=$!
ALL_PIDS+=("$PROD")
exec 3>"$TMP/in"
head -n 4000 "$TMP/jobs" >&3
wait_until 30 '[ "$(grep -c . "$TMP/ids")" -ge 4000 ]' || die "the first 4000 jobs were not stored"

# hold the next calls in flight, then stop Redis under them
rcli client pause 20000 WRITE >/dev/null
sed -n '4001,8000p' "$TMP/jobs" >&3
wait_until 20 '[ "$(rcli info clients | tr -d "\r" | sed -n "s/^blocked_clients://p")" -ge 1 ]' ||
    fail "no call of the producer was held in flight"
stop "$REDIS_PID" 15
say "# redis stopped with calls in flight"
tail -n +8001 "$TMP/jobs" >&3
exec 3>&-
wait_until 60 "! alive $PROD" || die "the producer did not end"
reap "$PROD"
assert_eq 0 "$STOP_STATUS" "producer exit status with redis gone"
assert_eq $N "$(grep -c . "$TMP/ids")" "ids printed"
assert_eq $N "$(sort -u "$TMP/ids" | grep -c .)" "distinct ids printed"
assert_contains "$(cat "$TMP/producer.log")" "spooled: " "stderr says spooled"
assert_contains "$(cat "$TMP/producer.log")" "$SPOOL" "stderr says where"
waiting=$("$SLUICE_BIN/sluice-ctl" spool "$SPOOL" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["jobs"])')
[ "$waiting" -ge 4000 ] && ok "$waiting jobs wait in the spool" ||
    fail "only $waiting jobs in the spool, expected at least the last 4000"
spooled=$(sed -n 's/.*spooled: \([0-9]*\) job.*/\1/p' "$TMP/producer.log")
assert_eq "$waiting" "$spooled" "jobs in the spool = jobs the producer said it spooled"

# Redis back: flush, then run everything
_redis_launch || die "redis-server does not restart"
producer flush --spool "$SPOOL" >"$TMP/flush.out" || fail "flush failed"
cat "$TMP/flush.out"
assert_contains "$(cat "$TMP/flush.out")" "0 waiting" "flush empties the spool"
start_worker w1 --queues "$Q" --concurrency 50 --latency-log "$TMP/runs"
wait_until 90 '[ "$(zcard done)" -ge $N ]' || fail "done=$(zcard done) of $N after 90 s"
stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status"
assert_eq $N "$(zcard done)" "ZCARD done"
assert_eq 0 "$(zcard dead)" "ZCARD dead"
assert_eq 0 "$(ready_total)" "jobs in ready"
assert_eq $N "$(stat_of processed)" "stats processed"
assert_eq $N "$(grep -c . "$TMP/runs")" "runs"
assert_eq 0 "$(cut -d' ' -f1 "$TMP/runs" | sort | uniq -d | grep -c .)" "ids that ran twice"
cut -d' ' -f1 "$TMP/runs" | sort >"$TMP/ran"
sort "$TMP/ids" >"$TMP/ids.sorted"
assert_eq 0 "$(comm -3 "$TMP/ran" "$TMP/ids.sorted" | grep -c .)" "ids printed but not run, or run but not printed"
# the payload markers of the jobs in done: each of 1..N once
rcli --raw eval "
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    out[#out + 1] = cjson.decode(redis.call('GET', ARGV[1] .. id)).payload.m
end
return out" 1 "$(k done)" "$SLUICE_PREFIX:{$Q}:job:" | sort -n >"$TMP/markers"
assert_eq $N "$(grep -c . "$TMP/markers")" "payload markers in done"
assert_eq 0 "$(uniq -d "$TMP/markers" | grep -c .)" "payload markers seen twice"
assert_eq "1 $N" "$(head -1 "$TMP/markers") $(tail -1 "$TMP/markers")" "markers run from 1 to N"
assert_contains "$("$SLUICE_BIN/sluice-ctl" stats --spool "$SPOOL")" "0 jobs waiting" "stats shows the empty spool"

assert_nothing_running
finish
