# t_message_telegram: Telegram's limits held by the worker itself: many
# messages for one private chat go out one a second, others are not held up
# behind them, and the fake counts no 429. The bot token, which Telegram
# puts in the URL path, appears in no log.
. "$(dirname "$0")/lib.sh"

TOKEN="123456:tg-$$-secret"
start_redis
start_fake fake --telegram-token "$TOKEN" --latency-ms 10 --log "$TMP/fake.jsonl"
export SLUICE_TELEGRAM_TOKEN="$TOKEN" SLUICE_TELEGRAM_API="$U"

"$PY" -c '
import json, sys
q = sys.argv[1]
def job(chat, text):
    return json.dumps({"type": "message", "queue": q, "payload": {"platform": "telegram",
        "chat_id": chat, "text": text}})
for i in range(6):
    print(job(777, "busy chat %d" % i))
for c in range(20):
    print(job(1000 + c, "quiet chat %d" % c))
for i in range(3):
    print(job(-100500, "group %d" % i))
' "$Q" >"$TMP/msgs.ndjson"
producer enqueue --ndjson "$TMP/msgs.ndjson" >/dev/null || die "enqueue failed"
start_worker w1 --queues "$Q" --concurrency 100
wait_until 30 '[ "$(stat_of processed)" -ge 29 ]' || fail "processed=$(stat_of processed) of 29"
stop "$(pid_of w1)"

stats=$(curl -s "$U/_fake/stats")
assert_eq 29 "$(jq .deliveries <<<"$stats")" "messages delivered"
assert_eq 0 "$(jq '.rate_limited.telegram_chat + .rate_limited.telegram_bot' <<<"$stats")" \
    "Telegram 429s"
assert_eq 1 "$(jq .max_telegram_chat_per_second <<<"$stats")" "most messages to one chat in a second"
assert_eq '["busy chat 0","busy chat 1","busy chat 2","busy chat 3","busy chat 4","busy chat 5"]' \
    "$(curl -s "$U/_fake/messages?chat_id=777" | jq -c .contents)" "the busy chat's messages, in order"
# pacing from the fake's clock: the busy chat took >= 5 s (a lower bound
# the limit sets, whatever the load); the quiet chats were not queued
# behind it: each of them was delivered before the busy chat's third message
span=$(jq -s '[.[] | select(.chat_id == "777" and .status == 200) | .t_ms] | max - min' \
    "$TMP/fake.jsonl")
[ "$span" -ge 4900 ] && ok "six messages to one chat spread over $span ms" ||
    fail "six messages to one chat within $span ms (1 a second allows no less than 5000)"
behind=$(jq -s '([.[] | select((.chat_id | tonumber) >= 1000 and (.chat_id | tonumber) < 1020)
        | .t_ms] | max) as $last
    | [.[] | select(.chat_id == "777" and .status == 200 and .t_ms <= $last)] | length' \
    "$TMP/fake.jsonl")
assert_le "$behind" 2 "busy-chat messages delivered before the last quiet chat's"
assert_not_contains "$(cat "$TMP/w1.log")" "$TOKEN" "token in the worker log"
assert_not_contains "$(cat "$TMP/w1.log")" "tg-$$-secret" "token's secret part in the worker log"
stop "$FAKE_PID"
assert_nothing_running
finish
