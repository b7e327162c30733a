# t_kill9: at-least-once across a crash. Two workers share 2,000 jobs; one
# is killed with SIGKILL half way; the scheduler puts its leased jobs back
# once their leases expire, and every job ends in done, none dead.
. "$(dirname "$0")/lib.sh"

N=2000
start_redis
start_scheduler s1 --reap-ms 200
start_worker w1 --queues "$Q" --concurrency 50 --lease-ms 1500
start_worker w2 --queues "$Q" --concurrency 50 --lease-ms 1500
wait_until 10 'grep -q "leader now" "$(log_of s1)"' || die "scheduler did not become leader"
wait_until 10 '[ "$(rcli zcard "$SLUICE_PREFIX:workers")" -ge 2 ]' || die "workers did not register"

for i in $(seq 1 $N); do
    echo "{\"type\":\"sleep\",\"queue\":\"$Q\",\"payload\":{\"ms\":20}}"
done >"$TMP/jobs.ndjson"
producer enqueue --ndjson "$TMP/jobs.ndjson" >"$TMP/ids" || die "bulk enqueue failed"
assert_eq $N "$(sort -u "$TMP/ids" | grep -c .)" "distinct ids printed"

wait_until 30 '[ "$(stat_of processed)" -ge $((N / 2)) ]' || die "half the jobs not processed after 30 s"
kill -KILL "$(pid_of w1)"
at_kill=$(stat_of processed)
held=$(zcard active)
say "# SIGKILL to w1 with processed=$at_kill active=$held"
wait_until 5 '! alive "$(pid_of w1)"' || fail "w1 survived SIGKILL"
reap "$(pid_of w1)"
[ "$at_kill" -lt $N ] && ok "w1 killed before the end ($at_kill of $N processed)" ||
    fail "all jobs were processed before the kill: the test proves nothing"

wait_until 60 '[ "$(zcard done)" -ge $N ]' ||
    fail "ZCARD done=$(zcard done) after 60 s, expected $N (active=$(zcard active) ready=$(ready_total) delayed=$(zcard delayed) dead=$(zcard dead))"

assert_eq $N "$(zcard done)" "ZCARD done"
assert_eq 0 "$(zcard dead)" "ZCARD dead"
assert_eq 0 "$(zcard active)" "ZCARD active"
assert_eq 0 "$(zcard delayed)" "ZCARD delayed"
assert_eq 0 "$(ready_total)" "jobs in ready"
rcli zrange "$(k done)" 0 -1 | sort >"$TMP/done"
sort "$TMP/ids" >"$TMP/ids.sorted"
if cmp -s "$TMP/ids.sorted" "$TMP/done"; then
    ok "done holds exactly the $N enqueued ids"
else
    fail "done differs from the enqueued ids: $(comm -3 "$TMP/ids.sorted" "$TMP/done" | head -5 | tr '\n' ' ')"
fi
reclaimed=$(stat_of reclaimed)
[ "$reclaimed" -ge 1 ] && ok "the killed worker's jobs were reclaimed (reclaimed=$reclaimed)" ||
    fail "stats reclaimed=$reclaimed: nothing of the killed worker's was put back"

# w2 holds the lease of every job it runs: none of its calls is fenced off
assert_eq 0 "$(stat_of stale)" "stale renews and settles"
assert_eq 0 "$(rcli hlen "$(k lease)")" "lease fields left"
alive "$(pid_of w2)" && ok "w2 still running" || fail "w2 died"
stop "$(pid_of w2)"
assert_eq 0 "$STOP_STATUS" "w2 exit status"
stop "$(pid_of s1)"
assert_eq 0 "$STOP_STATUS" "scheduler exit status"

assert_nothing_running
finish
