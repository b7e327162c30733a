# t_retry: transient failures retry with exponential backoff (full jitter,
# ceiling base * 2^(attempt-1)) until they succeed, or go to dead once
# max_attempts runs have failed; the stats counters follow.
. "$(dirname "$0")/lib.sh"

BASE=200
start_redis
start_scheduler s1
start_worker w1 --queues "$Q" --backoff-base-ms $BASE --latency-log "$TMP/latency.log"

j3=$(enqueue --type fail --queue "$Q" --payload '{"times":3}') || die "enqueue failed"
j100=$(enqueue --type fail --queue "$Q" --payload '{"times":100}' --max-attempts 4) ||
    die "enqueue failed"

wait_until 20 '[ -n "$(rcli zscore "$(k done)" "$j3")" ]' ||
    fail "fail {times:3} is not done after 20 s (body: $(job_body "$j3"))"
wait_until 20 '[ -n "$(rcli zscore "$(k dead)" "$j100")" ]' ||
    fail "fail {times:100} --max-attempts 4 is not dead after 20 s (body: $(job_body "$j100"))"

stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status"
stop "$(pid_of s1)"
assert_eq 0 "$STOP_STATUS" "scheduler exit status"

wlog=$(log_of w1)
# check_retries ID EXPECTED_RETRIES: each logged delay within its ceiling,
# and each next attempt starting no earlier than failure time + delay.
check_retries() {
    local id=$1 want=$2
    grep "job retry job=$id " "$wlog" >"$TMP/retries.$id"
    assert_eq "$want" "$(grep -c . "$TMP/retries.$id")" "retries logged for $id"
    awk -v id="$id" '$1 == id { print $2 }' "$TMP/latency.log" >"$TMP/starts.$id"
    assert_eq $((want + 1)) "$(grep -c . "$TMP/starts.$id")" "runs of $id in the latency log"
    local n=0 line stamp attempt delay ceiling fail_ms next_us
    while read -r line; do
        n=$((n + 1))
        stamp=${line%% *}
        attempt=$(printf '%s\n' "$line" | sed -n 's/.* attempt=\([0-9]*\) .*/\1/p')
        delay=$(printf '%s\n' "$line" | sed -n 's/.* delay_ms=\([0-9]*\) .*/\1/p')
        assert_eq "$n" "$attempt" "attempt number of retry $n of $id"
        ceiling=$((BASE << (n - 1)))
        assert_le "$delay" "$ceiling" "delay_ms of retry $n of $id within base*2^(attempt-1)"
        fail_ms=$(stamp_ms "$stamp")
        next_us=$(sed -n "$((n + 1))p" "$TMP/starts.$id")
        if [ -z "$next_us" ]; then
            fail "no run after retry $n of $id"
        elif [ "$next_us" -ge $(( (fail_ms + delay) * 1000 )) ]; then
            ok "run $((n + 1)) of $id starts $(( next_us / 1000 - fail_ms )) ms after failure $n (delay $delay ms)"
        else
            fail "run $((n + 1)) of $id started $(( next_us / 1000 - fail_ms )) ms after failure $n, before its delay of $delay ms"
        fi
    done <"$TMP/retries.$id"
}
check_retries "$j3" 3
check_retries "$j100" 3

grep -q "job dead job=$j100 " "$wlog" && ok "death of $j100 logged" || fail "no 'job dead' line for $j100"
body=$(job_body "$j3")
assert_eq 3 "$(json_get "$body" attempts)" "attempts of the job that succeeded"
body=$(job_body "$j100")
assert_eq 4 "$(json_get "$body" attempts)" "attempts of the dead job"
assert_contains "$(json_get "$body" last_error)" "fail" "last_error of the dead job"
[ -z "$(rcli zscore "$(k done)" "$j100")" ] && ok "dead job not in done" || fail "dead job also in done"

# 3 + 4 failed runs; 3 + 3 retries; 1 dead; 1 processed
assert_eq 7 "$(stat_of failed)" "stats failed"
assert_eq 6 "$(stat_of retried)" "stats retried"
assert_eq 1 "$(stat_of dead)" "stats dead"
assert_eq 1 "$(stat_of processed)" "stats processed"
assert_eq 0 "$(zcard delayed)" "ZCARD delayed"
assert_eq 0 "$(zcard active)" "ZCARD active"

assert_nothing_running
finish
