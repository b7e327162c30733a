# t_message_faults: delivery when the platform misbehaves.
#  - 5% of requests answered 5xx and 5% of connections dropped after the
#    message was posted: every message arrives, none twice (the nonce).
#  - a 403 goes to dead at once with Discord's reason.
#  - a global 429 stops every worker of the fleet until it has passed.
#  - no token in any log.
. "$(dirname "$0")/lib.sh"

TOKEN="faults-$$-secret-token"
start_redis
start_fake fake --discord-token "$TOKEN" --global-limit 0 --bucket-limit 0 --latency-ms 5 \
    --fail-rate 0.05 --drop-rate 0.05 --forbidden-channel 666 --log "$TMP/fake.jsonl"
use_discord_fake "$TOKEN"

discord_jobs "$TMP/msgs.ndjson" 500 10 2000 "faulty"
producer enqueue --ndjson "$TMP/msgs.ndjson" >/dev/null || die "enqueue failed"
forbidden=$(enqueue --type message --queue "$Q" \
    --payload '{"platform":"discord","channel_id":"666","content":"no access"}')

for i in 1 2; do
    start_worker "w$i" --queues "$Q" --concurrency 100 --backoff-base-ms 50 --backoff-max-ms 500
done
start_scheduler s1 --reap-ms 200
wait_until 60 '[ "$(stat_of processed)" -ge 500 ] && [ "$(stat_of dead)" -ge 1 ]' ||
    fail "processed=$(stat_of processed) dead=$(stat_of dead) after 60 s"

stats=$(curl -s "$U/_fake/stats")
assert_eq 500 "$(jq .deliveries <<<"$stats")" "messages delivered despite 5xx and drops"
assert_eq 0 "$(jq .duplicates <<<"$stats")" "messages delivered twice"
[ "$(jq .failed <<<"$stats")" -gt 5 ] && [ "$(jq .dropped <<<"$stats")" -gt 5 ] &&
    ok "faults were injected: $(jq .failed <<<"$stats") 5xx, $(jq .dropped <<<"$stats") drops" ||
    fail "too few faults injected to mean anything: $(jq -c '{failed, dropped}' <<<"$stats")"
[ "$(jq .nonce_repeats <<<"$stats")" -ge 1 ] &&
    ok "dropped posts were retried and caught by the nonce ($(jq .nonce_repeats <<<"$stats"))" ||
    fail "no retried post reached the fake's nonce check"
[ "$(stat_of retried)" -ge 10 ] && ok "transient failures were retried ($(stat_of retried))" ||
    fail "retried=$(stat_of retried)"
assert_eq 1 "$(stat_of dead)" "dead jobs (the 403 only)"
body=$(job_body "$forbidden")
assert_contains "$(json_get "$body" last_error)" "discord 403: Missing Access (code 50001)" \
    "the 403's reason"
# one attempt, unless an injected 5xx or drop met the same job first
assert_le "$(json_get "$body" attempts)" 3 "attempts of the 403 (dead at once, not after 8)"

# A global 429 stops the whole fleet: nothing reaches the platform while it
# lasts, except what was already on its way when the first one came back.
curl -s -o /dev/null -d '{"fail_rate":0,"drop_rate":0,"global_limit":50}' "$U/_fake/config"
curl -s -o /dev/null -X POST "$U/_fake/reset"
discord_jobs "$TMP/more.ndjson" 150 10 3000 "paused"
producer enqueue --ndjson "$TMP/more.ndjson" >/dev/null || die "enqueue failed"
wait_until 20 '[ "$(curl -s "$U/_fake/stats" | jq .deliveries)" -ge 20 ]' ||
    die "the second batch did not start"
curl -s -o /dev/null -d '{"global_429_for_ms":1500}' "$U/_fake/config"
wait_until 30 '[ "$(stat_of processed)" -ge 650 ]' || fail "processed=$(stat_of processed) of 650"
for i in 1 2; do stop "$(pid_of "w$i")"; done
stop "$(pid_of s1)"
stats=$(curl -s "$U/_fake/stats")
assert_eq 150 "$(jq .deliveries <<<"$stats")" "messages delivered around the global 429"
g=$(jq .rate_limited.global <<<"$stats")
[ "$g" -ge 1 ] && ok "$g request(s) already on their way met the global 429" ||
    fail "no request met the global 429: the test did not test anything"
# in the log: after the first 429 and the requests already on their way
# (200 ms), nothing reaches the platform until the 1.5 s have passed
gap=$(jq -s '[.[] | select(.route == "create_message")] as $r
    | ([$r[] | select(.status == 429)][0].t_ms) as $t
    | [$r[] | select(.t_ms > $t + 200 and .t_ms < $t + 1400)] | length' "$TMP/fake.jsonl")
assert_eq 0 "$gap" "requests during the global 429"

for f in "$TMP"/w*.log "$TMP"/s1.log; do
    assert_not_contains "$(cat "$f")" "$TOKEN" "token in $(basename "$f")"
done
stop "$FAKE_PID"
assert_nothing_running
finish
