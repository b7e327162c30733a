# t_timeout: a run that exceeds the job's timeout_ms is abandoned and
# retried; after max_attempts it is dead with a timeout as its last_error,
# long before the handler itself would have finished.
. "$(dirname "$0")/lib.sh"

start_redis
start_scheduler s1
start_worker w1 --queues "$Q" --backoff-base-ms 100 --latency-log "$TMP/latency.log"
wait_until 10 'grep -q "leader now" "$(log_of s1)"' || die "scheduler did not become leader"

t0=$(now_ms)
id=$(enqueue --type sleep --queue "$Q" --payload '{"ms":5000}' --timeout-ms 300 --max-attempts 2) ||
    die "enqueue failed"
wait_until 9 '[ -n "$(rcli zscore "$(k dead)" "$id")" ]' ||
    fail "the job is not dead 9 s after enqueue (body: $(job_body "$id"))"
t1=$(now_ms)
say "# dead $((t1 - t0)) ms after enqueue"
# without the timeout the first run alone would take 5 s
assert_le $((t1 - t0)) 5000 "dead before one 5 s run could end"

stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status"
stop "$(pid_of s1)"
assert_eq 0 "$STOP_STATUS" "scheduler exit status"

body=$(job_body "$id")
assert_eq 2 "$(json_get "$body" attempts)" "attempts"
assert_contains "$(json_get "$body" last_error)" "timeout" "last_error"
assert_eq 1 "$(grep -c "job retry job=$id .*timeout" "$(log_of w1)")" "retries after a timeout logged"
assert_eq 1 "$(grep -c "job dead job=$id .*timeout" "$(log_of w1)")" "death after a timeout logged"
[ -z "$(rcli zscore "$(k done)" "$id")" ] && ok "not in done" || fail "the timed-out job is also in done"
assert_eq 0 "$(stat_of processed)" "stats processed"

# each run was cut at about 300 ms
awk -v id="$id" '$1 == id { print $2 }' "$TMP/latency.log" >"$TMP/starts"
assert_eq 2 "$(grep -c . "$TMP/starts")" "runs"
grep -E "job (retry|dead) job=$id " "$(log_of w1)" | cut -d' ' -f1 >"$TMP/ends"
n=0
while read -r start; do
    n=$((n + 1))
    stamp=$(sed -n "${n}p" "$TMP/ends")
    [ -n "$stamp" ] || { fail "run $n has no end in the log"; continue; }
    ran=$(( $(stamp_ms "$stamp") - start / 1000 ))
    say "# run $n abandoned after $ran ms"
    assert_le 290 "$ran" "run $n lasted its timeout_ms"
    assert_le "$ran" 4999 "run $n abandoned before its 5 s handler ended"
done <"$TMP/starts"

assert_nothing_running
finish
