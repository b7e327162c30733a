# t_idempotency: enqueueing twice with one idempotency key gives the first
# job's id and makes no second job; another key makes a new job.
. "$(dirname "$0")/lib.sh"

start_redis

a=$(enqueue --type noop --queue "$Q" --idempotency-key order-42 --payload '{"n":1}') ||
    die "first enqueue failed"
b=$(enqueue --type noop --queue "$Q" --idempotency-key order-42 --payload '{"n":2}') ||
    die "second enqueue failed"
c=$(enqueue --type noop --queue "$Q" --idempotency-key order-43 --payload '{"n":3}') ||
    die "third enqueue failed"
assert_eq "$a" "$b" "id returned for the repeated key"
[ "$a" != "$c" ] && ok "a different key gives a new id ($c)" || fail "key order-43 returned $c, the id of order-42"

jobs=$(rcli --scan --pattern "$(k 'job:*')" | grep -c .)
assert_eq 2 "$jobs" "job keys stored"
assert_eq 2 "$(llen normal)" "LLEN ready:normal"
assert_eq 2 "$(stat_of enqueued)" "stats enqueued"
assert_contains "$(job_body "$a")" '"n":1' "the stored job is the first one"

start_worker w1 --queues "$Q" --latency-log "$TMP/latency.log"
wait_until 10 '[ "$(stat_of processed)" -ge 2 ]' || fail "jobs not processed after 10 s"
stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status"
assert_eq 2 "$(stat_of processed)" "stats processed"
assert_eq 2 "$(grep -c . "$TMP/latency.log")" "runs"
assert_eq 1 "$(grep -c "^$a " "$TMP/latency.log")" "runs of the job with key order-42"

# the key is still remembered after the job ran
d=$(enqueue --type noop --queue "$Q" --idempotency-key order-42 --payload '{}') ||
    die "fourth enqueue failed"
assert_eq "$a" "$d" "id returned for the key after the job ran"

assert_nothing_running
finish
