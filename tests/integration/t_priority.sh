# t_priority: strict priority within a queue. With no worker running, 100
# low jobs are queued, then one critical job; a worker that runs one job at
# a time must start the critical one first.
. "$(dirname "$0")/lib.sh"

start_redis

ndjson="$TMP/low.ndjson"
for i in $(seq 1 100); do
    echo "{\"type\":\"noop\",\"queue\":\"$Q\",\"priority\":\"low\",\"payload\":{}}"
done >"$ndjson"
low_ids=$(producer enqueue --ndjson "$ndjson") || die "bulk enqueue of 100 low jobs failed"
assert_eq 100 "$(echo "$low_ids" | grep -c .)" "ids printed for the low jobs"
crit=$(enqueue --type noop --queue "$Q" --priority critical --payload '{}') ||
    die "enqueue of the critical job failed"
assert_eq 100 "$(llen low)" "LLEN ready:low before the worker starts"
assert_eq 1 "$(llen critical)" "LLEN ready:critical before the worker starts"

start_worker w1 --queues "$Q" --concurrency 1 --latency-log "$TMP/latency.log"
wait_until 30 '[ "$(stat_of processed)" -ge 101 ]' ||
    fail "processed=$(stat_of processed) after 30 s, expected 101"
stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status after SIGTERM"

assert_eq 101 "$(stat_of processed)" "stats processed"
assert_eq 101 "$(wc -l <"$TMP/latency.log" | tr -d ' ')" "runs in the latency log"
first=$(head -n 1 "$TMP/latency.log" | cut -d' ' -f1)
assert_eq "$crit" "$first" "first job started (the critical one)"
assert_eq 0 "$(ready_total)" "jobs left in ready"

assert_nothing_running
finish
