# t_message_resend: every request that reaches the platform holds a grant.
# The fake drops 5% of connections after the message was posted, on
# kept-alive connections. libcurl would send such a request again at once,
# silently, on a new connection (its retry of a reused connection that died
# unanswered): a copy no rate-limit grant covered, the 6th in a channel's
# window of 5 or past the global 50 a second, answered 429. Sluice asks for
# a new grant instead. With Discord's limits on: every message delivered
# once, no 429 at all.
. "$(dirname "$0")/lib.sh"

TOKEN="resend-$$-secret-token"
start_redis
start_fake fake --discord-token "$TOKEN" --drop-rate 0.05 --seed 3 --latency-ms 5 \
    --log "$TMP/fake.jsonl"
use_discord_fake "$TOKEN"
discord_jobs "$TMP/msgs.ndjson" 600 120 5000 "resend"
producer enqueue --ndjson "$TMP/msgs.ndjson" >/dev/null || die "enqueue failed"
start_worker w1 --queues "$Q" --concurrency 100 --backoff-base-ms 50 --backoff-max-ms 500
start_scheduler s1 --reap-ms 200
wait_until 90 '[ "$(stat_of processed)" -ge 600 ]' || fail "processed=$(stat_of processed) of 600"
stop "$(pid_of w1)"
stop "$(pid_of s1)"

stats=$(curl -s "$U/_fake/stats")
assert_eq 600 "$(jq .deliveries <<<"$stats")" "messages delivered"
assert_eq 0 "$(jq .duplicates <<<"$stats")" "messages delivered twice"
[ "$(jq .dropped <<<"$stats")" -ge 10 ] && ok "connections dropped after the post: $(jq .dropped <<<"$stats")" ||
    fail "too few drops to mean anything: $(jq .dropped <<<"$stats")"
assert_eq 0 "$(jq '.rate_limited.global + .rate_limited.user' <<<"$stats")" "429s"
assert_eq 0 "$(zcard dead)" "dead jobs"
assert_not_contains "$(cat "$TMP/w1.log")" "$TOKEN" "token in the worker log"
stop "$FAKE_PID"
assert_nothing_running
finish
