# t_delay_new_queue: --tick-ms is "the longest wait between promotion
# passes". That must hold for a queue that first appears after the
# scheduler started, too: a delayed job there runs about on time, not only
# once the scheduler's periodic housekeeping (--reap-ms) happens to notice
# the new queue.
. "$(dirname "$0")/lib.sh"

start_redis
start_scheduler s1 --tick-ms 500 --reap-ms 60000
start_worker w1 --queues fresh --latency-log "$TMP/latency.log"
wait_until 10 'grep -q "leader now" "$(log_of s1)"' || die "scheduler did not become leader"
wait_until 10 '[ "$(rcli zcard "$SLUICE_PREFIX:workers")" -ge 1 ]' || die "worker did not register"

# the queue "fresh" has never been used: this enqueue creates it
assert_eq 0 "$(rcli sismember "$SLUICE_PREFIX:queues" fresh)" "queue known before the enqueue"
t0=$(now_us)
id=$(enqueue --type noop --queue fresh --delay-ms 200 --payload '{}') || die "enqueue failed"
wait_until 5 '[ -n "$(rcli zscore "$(k done fresh)" "$id")" ]' ||
    fail "a job delayed 200 ms in a new queue is not done 5 s later (--tick-ms 500): still in delayed=$(zcard delayed fresh)"

stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status"
stop "$(pid_of s1)"
assert_eq 0 "$STOP_STATUS" "scheduler exit status"

start=$(awk -v id="$id" '$1 == id { print $2; exit }' "$TMP/latency.log")
if [ -n "$start" ]; then
    d=$(( (start - t0) / 1000 ))
    say "# started $d ms after enqueue began"
    assert_le 200 "$d" "not started before its delay"
fi

assert_nothing_running
finish
