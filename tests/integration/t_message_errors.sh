# t_message_errors: a failed request's reason reaches the job.
#  - a message job against a closed port goes to dead with a last_error that
#    names the connection failure and the request (not "").
#  - many jobs failing at once while others wait out 429s holding their
#    request (so the worker's cache of spare requests is full when a failed
#    one is released): each failure keeps its reason. Under ASan
#    (SLUICE_BIN=build-san/bin) this is the path that read the reason after
#    its request was freed.
. "$(dirname "$0")/lib.sh"

start_redis

# 1. Nothing listens on the port.
closed=$(free_port)
printf 'errors-%s-token\n' "$$" >"$TMP/discord.token"
chmod 600 "$TMP/discord.token"
SLUICE_DISCORD_TOKEN_FILE="$TMP/discord.token" SLUICE_DISCORD_API="http://127.0.0.1:$closed/api/v10" \
    start_worker w1 --queues "$Q" --concurrency 4
id=$(enqueue --type message --queue "$Q" --max-attempts 1 \
    --payload '{"platform":"discord","channel_id":"42","content":"nobody listens"}')
wait_until 20 '[ "$(zcard dead)" -ge 1 ]' || fail "the job is not dead after 20 s"
err=$(json_get "$(job_body "$id")" last_error)
assert_contains "$err" "POST http://127.0.0.1:$closed/api/v10/channels/42/messages" \
    "last_error names the request"
assert_contains "$err" "connect" "last_error names the connection failure"
stop "$(pid_of w1)"

# 2. Failures while the cache of spare requests is full. The fake lets 3
# Telegram requests a second through for the bot, the worker asks for far
# more: most requests get a 429 and wait in a gate with their request (the
# job parked, holding no slot), so more requests exist than the cache
# (--concurrency) keeps; a fifth of the connections are dropped after the
# answer was computed.
TOKEN="123456:errors-$$"
start_fake fake --telegram-token "$TOKEN" --telegram-bot-limit 3 --drop-rate 0.2 --seed 7
"$PY" -c '
import json, sys
for c in range(60):
    print(json.dumps({"type": "message", "queue": sys.argv[1], "max_attempts": 1,
        "payload": {"platform": "telegram", "chat_id": 5000 + c, "text": "chat %d" % c}}))
' "$Q" >"$TMP/tg.ndjson"
producer enqueue --ndjson "$TMP/tg.ndjson" >/dev/null || die "enqueue failed"
SLUICE_TELEGRAM_TOKEN="$TOKEN" SLUICE_TELEGRAM_API="$U" \
    start_worker w2 --queues "$Q" --concurrency 2 --telegram-per-second 1000
wait_until 90 '[ $(( $(stat_of processed) + $(zcard dead) )) -ge 61 ]' ||
    fail "processed=$(stat_of processed) dead=$(zcard dead) of 61 after 90 s"
stop "$(pid_of w2)"
stats=$(curl -s "$U/_fake/stats")
[ "$(jq .rate_limited.telegram_bot <<<"$stats")" -ge 10 ] &&
    [ "$(jq .dropped <<<"$stats")" -ge 3 ] &&
    ok "429s ($(jq .rate_limited.telegram_bot <<<"$stats")) and drops ($(jq .dropped <<<"$stats")) were met" ||
    fail "too few 429s or drops to fill the cache: $(jq -c '{rate_limited, dropped}' <<<"$stats")"
empty=0
for d in $(rcli zrange "$(k dead)" 0 -1); do
    e=$(json_get "$(job_body "$d")" last_error)
    [ -n "$e" ] || empty=$((empty + 1))
done
assert_eq 0 "$empty" "dead jobs without a reason (of $(zcard dead))"
stop "$FAKE_PID"
assert_nothing_running
finish
