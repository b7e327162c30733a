# t_message_faults_after: Discord's limits and all three faults at once.
#  - 5% of requests answered 5xx (nothing done), 5% of connections dropped
#    after the message was posted, 5% answered 5xx after it was posted (as
#    Discord's backend sometimes does): every message arrives exactly once
#    (the retry's nonce with enforce_nonce returns the stored message).
#  - the global limit (50/s) and the per-channel buckets (5 per 5 s) are on:
#    no request of a retry, a re-send or a lost answer meets a 429.
. "$(dirname "$0")/lib.sh"

TOKEN="faults-after-$$-secret-token"
start_redis
start_fake fake --discord-token "$TOKEN" --global-limit 50 --bucket-limit 5 \
    --bucket-window-ms 5000 --latency-ms 50 --fail-rate 0.05 --drop-rate 0.05 \
    --fail-after-rate 0.05 --seed 7 --log "$TMP/fake.jsonl"
use_discord_fake "$TOKEN"

discord_jobs "$TMP/msgs.ndjson" 600 60 2000 "after"
producer enqueue --ndjson "$TMP/msgs.ndjson" >/dev/null || die "enqueue failed"
for i in 1 2; do
    start_worker "w$i" --queues "$Q" --concurrency 100 --backoff-base-ms 50 --backoff-max-ms 500
done
start_scheduler s1 --reap-ms 200
wait_until 90 '[ "$(stat_of processed)" -ge 600 ]' ||
    fail "processed=$(stat_of processed) dead=$(stat_of dead) of 600 after 90 s"
for i in 1 2; do stop "$(pid_of "w$i")"; done
stop "$(pid_of s1)"

stats=$(curl -s "$U/_fake/stats")
f=$(jq .failed <<<"$stats") d=$(jq .dropped <<<"$stats") a=$(jq .failed_after <<<"$stats")
[ "$f" -ge 5 ] && [ "$d" -ge 5 ] && [ "$a" -ge 5 ] &&
    ok "faults were injected: $f 5xx, $d drops, $a 5xx after the effect" ||
    fail "too few faults injected to mean anything: $f 5xx, $d drops, $a 5xx after"
assert_eq 600 "$(jq .deliveries <<<"$stats")" "messages delivered"
assert_eq 0 "$(jq .duplicates <<<"$stats")" "messages delivered twice"
assert_eq 0 "$(jq .rate_limited.global <<<"$stats")" "global 429s"
assert_eq 0 "$(jq .rate_limited.user <<<"$stats")" "bucket 429s"
# every nonce answered 5xx after its delivery came back and found it stored
lost=$(jq -s '[.[] | select(.route == "create_message")] as $r
    | [$r[] | select(.failed_after) | .nonce] - [$r[] | select(.status == 200 and (.delivered | not)) | .nonce]
    | length' "$TMP/fake.jsonl")
assert_eq 0 "$lost" "5xx-after-effect posts never retried into the nonce check"
for c in 2000 2031 2059; do
    assert_eq 10 "$(curl -s "$U/_fake/messages?channel_id=$c" | jq .deliveries)" "messages in channel $c"
done
assert_eq 0 "$(stat_of dead)" "dead jobs"
for f in "$TMP"/w*.log "$TMP"/s1.log; do
    assert_not_contains "$(cat "$f")" "$TOKEN" "token in $(basename "$f")"
done
stop "$FAKE_PID"
assert_nothing_running
finish
