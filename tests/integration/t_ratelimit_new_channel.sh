# t_ratelimit_new_channel: a new channel of a route whose bucket is known
# starts with the bucket's places, not one. One message to channel A (it
# learns the route's bucket: 5 per 5 s window), then five to a new channel
# B: all five reach the fake inside B's first bucket window (the fake opens
# it at B's first request), none held for the next one, and no 429.
. "$(dirname "$0")/lib.sh"

TOKEN="newchan-$$-secret-token"
WINDOW_MS=5000

start_redis
start_fake fake --discord-token "$TOKEN" --global-limit 50 --bucket-limit 5 \
    --bucket-window-ms "$WINDOW_MS" --latency-ms 20 --log "$TMP/fake.jsonl"
use_discord_fake "$TOKEN"
start_worker w1 --queues "$Q" --concurrency 50

discord_jobs "$TMP/a.ndjson" 1 1 6100 "first"
producer enqueue --ndjson "$TMP/a.ndjson" >/dev/null || die "enqueue failed"
wait_until 20 '[ "$(stat_of processed)" -ge 1 ]' || die "the message to channel A was not sent"

discord_jobs "$TMP/b.ndjson" 5 1 6200 "second"
producer enqueue --ndjson "$TMP/b.ndjson" >/dev/null || die "enqueue failed"
wait_until 30 '[ "$(stat_of processed)" -ge 6 ]' ||
    fail "processed=$(stat_of processed) of 6 after 30 s"
stop "$(pid_of w1)"

stats=$(curl -s "$U/_fake/stats")
assert_eq 6 "$(jq .deliveries <<<"$stats")" "messages delivered"
assert_eq 0 "$(jq .rate_limited.user <<<"$stats")" "bucket 429s"
# B's requests by the fake's clock, from B's first: all in its first window
in_first=$(jq -s --argjson w "$WINDOW_MS" '[.[] | select(.channel_id == "6200") | .t_ms] |
    (min) as $t0 | map(select(. < $t0 + $w)) | length' "$TMP/fake.jsonl")
assert_eq 5 "$in_first" "channel B's messages in its first bucket window (of 5)"

stop "$FAKE_PID"
assert_nothing_running
finish
