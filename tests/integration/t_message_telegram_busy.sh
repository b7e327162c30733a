# t_message_telegram_busy: Telegram's 1 message a second per private chat
# holds on a host too busy to run the worker at once. The worker is stopped
# for 100 ms every 400 ms (SIGSTOP/SIGCONT) while 10 chats get 12 messages
# each: a send granted just before a stop would leave up to 100 ms late,
# close behind the chat's next one (the fake saw 863-956 ms gaps before the
# send-by fence applied to Telegram). The fake's limits are off, so it
# counts what the worker alone did: never two messages to one chat within
# a second (the fake's own window), every message once.
. "$(dirname "$0")/lib.sh"

TOKEN="123456:busy-$$"
start_redis
start_fake fake --telegram-token "$TOKEN" --latency-ms 300 --telegram-chat-limit 0 \
    --telegram-bot-limit 0 --log "$TMP/fake.jsonl"
"$PY" -c '
import json, sys
for i in range(12):
    for c in range(10):
        print(json.dumps({"type": "message", "queue": sys.argv[1], "payload": {
            "platform": "telegram", "chat_id": 7000 + c, "text": "chat %d msg %d" % (c, i)}}))
' "$Q" >"$TMP/msgs.ndjson"
producer enqueue --ndjson "$TMP/msgs.ndjson" >/dev/null || die "enqueue failed"
SLUICE_TELEGRAM_TOKEN="$TOKEN" SLUICE_TELEGRAM_API="$U" \
    start_worker w1 --queues "$Q" --concurrency 20
# a host too busy to run the worker for 100 ms now and then
w1=$(pid_of w1)
(while kill -STOP "$w1" 2>/dev/null; do
    sleep 0.1
    kill -CONT "$w1" 2>/dev/null
    sleep 0.3
done) &
pauser=$!
wait_until 90 '[ "$(stat_of processed)" -ge 120 ]' || fail "processed=$(stat_of processed) of 120"
kill "$pauser" 2>/dev/null
wait "$pauser" 2>/dev/null
kill -CONT "$w1" 2>/dev/null
stop "$w1"
stats=$(curl -s "$U/_fake/stats")
assert_eq 120 "$(jq .deliveries <<<"$stats")" "messages delivered"
gap=$(jq -s '[.[] | select(.route == "sendMessage")] | group_by(.chat_id)
    | map(sort_by(.t_ms) | [range(1; length) as $i | .[$i].t_ms - .[$i - 1].t_ms]) | flatten | min' \
    "$TMP/fake.jsonl")
say "closest two messages to one chat: $gap ms apart"
assert_eq 1 "$(jq .max_telegram_chat_per_second <<<"$stats")" \
    "most messages to one private chat in a second"
stop "$FAKE_PID"
assert_nothing_running
finish
