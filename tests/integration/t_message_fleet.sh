# t_message_fleet: three workers deliver 3,000 Discord messages to 30
# channels through the fake with its global limit at 50/s and a bucket per
# channel. Every message arrives once; the fleet keeps to the limits on its
# own (no 429 at all: buckets are learned one request at a time; no second
# over the global limit). The rate it reached is printed, not checked: it
# depends on the machine's load (rates are sluice-bench's, docs/bench.md).
. "$(dirname "$0")/lib.sh"

TOKEN="fleet-$$-secret-token"

start_redis
start_fake fake --discord-token "$TOKEN" --global-limit 50 --bucket-limit 10 \
    --bucket-window-ms 1000 --latency-ms 20 --log "$TMP/fake.jsonl"

use_discord_fake "$TOKEN"

discord_jobs "$TMP/msgs.ndjson" 3000 30 1000 "message"
producer enqueue --ndjson "$TMP/msgs.ndjson" >"$TMP/ids" || die "enqueue failed"

for i in 1 2 3; do
    start_worker "w$i" --queues "$Q" --concurrency 200
done
wait_until 100 '[ "$(stat_of processed)" -ge 3000 ]' ||
    fail "processed=$(stat_of processed) of 3000 after 100 s"
for i in 1 2 3; do stop "$(pid_of "w$i")"; done

stats=$(curl -s "$U/_fake/stats")
assert_eq 3000 "$(jq .deliveries <<<"$stats")" "messages delivered"
assert_eq 0 "$(jq .duplicates <<<"$stats")" "messages delivered twice"
assert_eq 0 "$(jq .rate_limited.global <<<"$stats")" "global 429s"
assert_eq 0 "$(jq .rate_limited.user <<<"$stats")" "bucket 429s"
max=$(jq .max_global_per_second <<<"$stats")
[ "$max" -le 50 ] && ok "at most $max requests in any second (limit 50)" ||
    fail "$max requests in one second, over the limit of 50"
for c in 1000 1017 1029; do
    n=$(curl -s "$U/_fake/messages?channel_id=$c" | jq .deliveries)
    assert_eq 100 "$n" "messages in channel $c"
done
# the rate over the run, from the fake's own clock: information only
rate=$(jq -s '[.[] | select(.delivered == true) | .t_ms] | (length - 1) * 1000 / (max - min) | . * 10 | round / 10' \
    "$TMP/fake.jsonl")
say "# delivered at $rate messages/s over the run (global limit 50; not checked: it depends on the load)"
assert_eq 0 "$(stat_of dead)" "dead jobs"
for f in "$TMP"/w*.log; do
    assert_not_contains "$(cat "$f")" "$TOKEN" "token in $(basename "$f")"
done

stop "$FAKE_PID"
assert_nothing_running
finish
