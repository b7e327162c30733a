# t_redis_restart: Redis (with AOF) restarts in the middle of a run. The
# workers and the scheduler stay up, reconnect on their own, and every job,
# immediate or delayed, ends in done: none lost, none dead.
. "$(dirname "$0")/lib.sh"

N=3000
ND=50
start_redis --aof
start_scheduler s1 --reap-ms 200 --lock-ttl-ms 1500
start_worker w1 --queues "$Q" --concurrency 10 --lease-ms 2000
start_worker w2 --queues "$Q" --concurrency 10 --lease-ms 2000
wait_until 10 'grep -q "leader now" "$(log_of s1)"' || die "scheduler did not become leader"
wait_until 10 '[ "$(rcli zcard "$SLUICE_PREFIX:workers")" -ge 2 ]' || die "workers did not register"

{
    for i in $(seq 1 $N); do
        echo "{\"type\":\"sleep\",\"queue\":\"$Q\",\"payload\":{\"ms\":5}}"
    done
    for i in $(seq 1 $ND); do
        echo "{\"type\":\"sleep\",\"queue\":\"$Q\",\"delay_ms\":$((500 + i * 40)),\"payload\":{\"ms\":5}}"
    done
} >"$TMP/jobs.ndjson"
producer enqueue --ndjson "$TMP/jobs.ndjson" >"$TMP/ids" || die "bulk enqueue failed"
TOTAL=$((N + ND))
assert_eq $TOTAL "$(sort -u "$TMP/ids" | grep -c .)" "distinct ids printed"

wait_until 60 '[ "$(stat_of processed)" -ge 600 ]' || die "600 jobs not processed after 60 s"
say "# restarting redis with processed=$(stat_of processed) active=$(zcard active) delayed=$(zcard delayed)"
restart_redis
after=$(stat_of processed)
say "# redis back with processed=$after active=$(zcard active) delayed=$(zcard delayed)"
[ "$after" -lt $TOTAL ] && ok "restarted mid-run ($after of $TOTAL processed)" ||
    fail "all jobs were done before the restart: the test proves nothing"

wait_until 90 '[ "$(zcard done)" -ge $TOTAL ]' ||
    fail "ZCARD done=$(zcard done) after 90 s, expected $TOTAL (active=$(zcard active) ready=$(ready_total) delayed=$(zcard delayed) dead=$(zcard dead))"

for name in w1 w2 s1; do
    alive "$(pid_of $name)" && ok "$name survived the restart" || fail "$name died"
done
assert_eq $TOTAL "$(zcard done)" "ZCARD done"
assert_eq 0 "$(zcard dead)" "ZCARD dead"
assert_eq 0 "$(zcard active)" "ZCARD active"
assert_eq 0 "$(zcard delayed)" "ZCARD delayed"
assert_eq 0 "$(ready_total)" "jobs in ready"
rcli zrange "$(k done)" 0 -1 | sort >"$TMP/done"
sort "$TMP/ids" >"$TMP/ids.sorted"
missing=$(comm -23 "$TMP/ids.sorted" "$TMP/done" | grep -c .)
extra=$(comm -13 "$TMP/ids.sorted" "$TMP/done" | grep -c .)
assert_eq 0 "$missing" "enqueued ids missing from done"
assert_eq 0 "$extra" "ids in done that were never enqueued"
grep -qiE "redis.*(down|lost|closed|reconnect)|connect" "$(log_of w1)" &&
    ok "w1 logged the connection loss" || fail "w1 logged nothing about the lost connection"

for name in w1 w2 s1; do
    stop "$(pid_of $name)"
    assert_eq 0 "$STOP_STATUS" "$name exit status"
done

assert_nothing_running
finish
