# t_permanent: a permanent failure goes to dead after exactly one attempt,
# with the reason in last_error, and is not retried.
. "$(dirname "$0")/lib.sh"

start_redis
start_scheduler s1
start_worker w1 --queues "$Q" --backoff-base-ms 50 --latency-log "$TMP/latency.log"

id=$(enqueue --type fail --queue "$Q" --payload '{"permanent":true}') || die "enqueue failed"
wait_until 10 '[ -n "$(rcli zscore "$(k dead)" "$id")" ]' ||
    fail "the job is not in dead after 10 s (body: $(job_body "$id"))"
# a retry, if there were one, would be due within 50 ms: give it time to show
ok_id=$(enqueue --type noop --queue "$Q" --delay-ms 300 --payload '{}') || die "enqueue failed"
wait_until 10 '[ -n "$(rcli zscore "$(k done)" "$ok_id")" ]' || fail "a later job did not run"

stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status"
stop "$(pid_of s1)"
assert_eq 0 "$STOP_STATUS" "scheduler exit status"

body=$(job_body "$id")
assert_eq 1 "$(json_get "$body" attempts)" "attempts"
assert_contains "$(json_get "$body" last_error)" "permanent" "last_error"
assert_eq 1 "$(awk -v id="$id" '$1 == id' "$TMP/latency.log" | grep -c .)" "runs of the job"
assert_eq 0 "$(grep -c "job retry job=$id" "$(log_of w1)")" "retries logged"
grep -q "job dead job=$id .*reason=\".*permanent" "$(log_of w1)" && ok "death logged with its reason" ||
    fail "no 'job dead ... reason=' line for $id"
assert_eq 1 "$(stat_of dead)" "stats dead"
assert_eq 0 "$(stat_of retried)" "stats retried"
assert_eq 0 "$(zcard delayed)" "ZCARD delayed"
[ -z "$(rcli zscore "$(k done)" "$id")" ] && ok "not in done" || fail "the dead job is also in done"

assert_nothing_running
finish
