# t_fifo: jobs of one priority start in the order they were enqueued.
. "$(dirname "$0")/lib.sh"

start_redis

for i in $(seq 1 200); do
    echo "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{\"n\":$i}}"
done >"$TMP/jobs.ndjson"
producer enqueue --ndjson "$TMP/jobs.ndjson" >"$TMP/ids" || die "bulk enqueue failed"
assert_eq 200 "$(grep -c . "$TMP/ids")" "ids printed"
assert_eq 200 "$(sort -u "$TMP/ids" | grep -c .)" "distinct ids"

start_worker w1 --queues "$Q" --concurrency 1 --latency-log "$TMP/latency.log"
wait_until 30 '[ "$(stat_of processed)" -ge 200 ]' ||
    fail "processed=$(stat_of processed) after 30 s, expected 200"
stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status after SIGTERM"

cut -d' ' -f1 "$TMP/latency.log" >"$TMP/started"
assert_eq 200 "$(grep -c . "$TMP/started")" "runs in the latency log"
if cmp -s "$TMP/ids" "$TMP/started"; then
    ok "200 jobs started in enqueue order"
else
    fail "start order differs from enqueue order; first difference:"
    diff "$TMP/ids" "$TMP/started" | head -n 10 | sed 's/^/#   /'
fi

assert_nothing_running
finish
