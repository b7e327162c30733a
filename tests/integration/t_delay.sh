# t_delay: a delayed job does not start before its time, and runs after it;
# a job with --delay-ms 0 goes straight to ready and runs. How soon each
# started is printed, not checked: on a busy machine it varies.
. "$(dirname "$0")/lib.sh"

start_redis
start_scheduler s1 --tick-ms 1000
start_worker w1 --queues "$Q" --latency-log "$TMP/latency.log"
wait_until 10 'grep -q "leader now" "$(log_of s1)"' || die "scheduler did not become leader"
wait_until 10 '[ "$(rcli zcard "$SLUICE_PREFIX:workers")" -ge 1 ]' || die "worker did not register"

t0=$(now_us)
delayed=$(enqueue --type noop --queue "$Q" --delay-ms 1500 --payload '{}') ||
    die "enqueue of the delayed job failed"
assert_eq 0 "$(ready_total)" "ready jobs right after enqueue"
[ -n "$(rcli zscore "$(k delayed)" "$delayed")" ] && ok "the job waits in delayed" ||
    fail "the delayed job is not in $(k delayed)"
wait_until 6 '[ -n "$(rcli zscore "$(k done)" "$delayed")" ]' ||
    fail "the delayed job is not done 6 s after enqueue"

t1=$(now_us)
now=$(enqueue --type noop --queue "$Q" --delay-ms 0 --payload '{}') ||
    die "enqueue of the immediate job failed"
wait_until 5 '[ -n "$(rcli zscore "$(k done)" "$now")" ]' ||
    fail "the --delay-ms 0 job is not done 5 s after enqueue"

stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status"
stop "$(pid_of s1)"
assert_eq 0 "$STOP_STATUS" "scheduler exit status"

start_of() { awk -v id="$1" '$1 == id { print $2; exit }' "$TMP/latency.log"; }
s_delayed=$(start_of "$delayed")
s_now=$(start_of "$now")
[ -n "$s_delayed" ] || die "the delayed job has no start in the latency log"
[ -n "$s_now" ] || die "the immediate job has no start in the latency log"
d=$(( (s_delayed - t0) / 1000 ))
say "# delayed job started $d ms after enqueue began"
assert_le 1500 "$d" "delayed job not started before enqueue + 1500 ms"
d=$(( (s_now - t1) / 1000 ))
say "# --delay-ms 0 job started $d ms after enqueue began"

assert_nothing_running
finish
