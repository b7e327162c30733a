# t_drain: SIGTERM drains. Running jobs get --grace-ms to finish; those
# still running then go back to ready at once (no attempt counted) and the
# worker exits 0. With a long grace, running jobs finish and are done.
. "$(dirname "$0")/lib.sh"

start_redis

# 5 short jobs first, then 10 long ones: with 10 slots the short ones finish
# and the 10 long ones fill every slot.
for i in 1 2 3 4 5; do
    echo "{\"type\":\"sleep\",\"queue\":\"$Q\",\"payload\":{\"ms\":100}}"
done >"$TMP/short.ndjson"
for i in $(seq 1 10); do
    echo "{\"type\":\"sleep\",\"queue\":\"$Q\",\"payload\":{\"ms\":10000}}"
done >"$TMP/long.ndjson"
producer enqueue --ndjson "$TMP/short.ndjson" >"$TMP/short.ids" || die "enqueue failed"
producer enqueue --ndjson "$TMP/long.ndjson" >"$TMP/long.ids" || die "enqueue failed"

start_worker w1 --queues "$Q" --concurrency 10 --grace-ms 500
wait_until 10 '[ "$(zcard done)" -ge 5 ] && [ "$(zcard active)" -ge 10 ]' ||
    die "expected 5 done and 10 active, got done=$(zcard done) active=$(zcard active)"

pid=$(pid_of w1)
t0=$(now_ms)
kill -TERM "$pid"
wait_until 10 "! alive $pid" || fail "the worker still runs 10 s after SIGTERM"
t1=$(now_ms)
stop "$pid"
assert_eq 0 "$STOP_STATUS" "worker exit status after SIGTERM"
say "# exited $((t1 - t0)) ms after SIGTERM (grace 500 ms)"
assert_le 450 $((t1 - t0)) "running jobs were given the grace period"
# that it did not wait for the long jobs shows below: handed back, not done

assert_eq 5 "$(zcard done)" "ZCARD done (the short jobs)"
assert_eq 10 "$(llen normal)" "LLEN ready:normal (the long jobs handed back)"
assert_eq 0 "$(zcard active)" "ZCARD active"
assert_eq 0 "$(zcard dead)" "ZCARD dead"
assert_eq 0 "$(zcard delayed)" "ZCARD delayed"
for id in $(cat "$TMP/short.ids"); do
    [ -n "$(rcli zscore "$(k done)" "$id")" ] || fail "short job $id is not done"
done
rcli lrange "$(k ready:normal)" 0 -1 >"$TMP/ready.ids"
if cmp -s "$TMP/long.ids" "$TMP/ready.ids"; then
    ok "the long jobs are back in ready, in their original order"
elif [ "$(sort "$TMP/long.ids")" = "$(sort "$TMP/ready.ids")" ]; then
    fail "the long jobs are back in ready but out of their FIFO order"
else
    fail "ready:normal does not hold the long jobs: $(tr '\n' ' ' <"$TMP/ready.ids")"
fi
n_attempts=0
for id in $(cat "$TMP/long.ids"); do
    a=$(json_get "$(job_body "$id")" attempts)
    [ -z "$a" ] || [ "$a" = 0 ] || n_attempts=$((n_attempts + 1))
done
assert_eq 0 "$n_attempts" "handed-back jobs with an attempt counted"
grep -q "handed back" "$(log_of w1)" && ok "log mentions jobs handed back" ||
    fail "the worker log does not mention handing back"
assert_eq 10 "$(grep -c "job handed back" "$(log_of w1)")" "'job handed back' lines"

# Long grace: jobs running at SIGTERM finish, and the worker exits then.
Q2=q2
for i in 1 2 3; do
    echo "{\"type\":\"sleep\",\"queue\":\"$Q2\",\"payload\":{\"ms\":1500}}"
done >"$TMP/mid.ndjson"
producer enqueue --ndjson "$TMP/mid.ndjson" >"$TMP/mid.ids" || die "enqueue failed"
start_worker w2 --queues "$Q2" --concurrency 10 --grace-ms 20000
# 1.5 s, long enough to be seen running by a poll on a busy machine
wait_until 10 '[ "$(zcard active "$Q2")" -ge 3 ]' || die "the 1.5 s jobs did not start"
pid=$(pid_of w2)
t0=$(now_ms)
kill -TERM "$pid"
# exits once the running jobs finished, not at the end of the 20 s grace
wait_until 15 "! alive $pid" || fail "the worker still runs 15 s after SIGTERM (grace 20 s)"
t1=$(now_ms)
stop "$pid"
assert_eq 0 "$STOP_STATUS" "worker exit status after SIGTERM (long grace)"
say "# exited $((t1 - t0)) ms after SIGTERM (grace 20 s, jobs of 1.5 s)"
assert_eq 3 "$(zcard done "$Q2")" "ZCARD done of the 1.5 s jobs"
assert_eq 0 "$(ready_total "$Q2")" "1.5 s jobs in ready"
assert_eq 0 "$(zcard active "$Q2")" "ZCARD active (q2)"
assert_eq 0 "$(grep -c "handed back" "$(log_of w2)")" "jobs handed back with a long grace"

assert_nothing_running
finish
