# t_result_message: a message job's result is where the message went, kept
# in the done job and shown by sluice-ctl; a job with no result pays nothing.
#  - Discord send (channel and DM) and Telegram send: "result" in the stored
#    envelope names the platform, the channel or chat and the fake's own
#    message id; `sluice-ctl show --json` shows it as "result".
#  - A Telegram edit given the result's message_id (a string) edits that
#    message.
#  - A noop job is done with its envelope byte for byte as it was enqueued
#    (no "result", no rewrite).
#  - A result over --result-max-bytes: the job is done all the same (the
#    message was sent once), its result replaced by an error naming the limit.
. "$(dirname "$0")/lib.sh"

DTOKEN="result-$$-discord"
TTOKEN="424242:result-$$-tg"
start_redis
start_fake fake --discord-token "$DTOKEN" --telegram-token "$TTOKEN"
use_discord_fake "$DTOKEN"
export SLUICE_TELEGRAM_TOKEN="$TTOKEN" SLUICE_TELEGRAM_API="$U"
CTL="$SLUICE_BIN/sluice-ctl"

# the noop job's envelope before any worker saw it
nid=$(enqueue --type noop --queue "$Q" --payload '{}') || die "enqueue failed"
before=$(job_body "$nid")

d1=$(enqueue --type message --queue "$Q" \
    --payload '{"platform":"discord","channel_id":"4242","content":"to a channel"}') || die "enqueue"
d2=$(enqueue --type message --queue "$Q" \
    --payload '{"platform":"discord","user_id":"777000","content":"a DM"}') || die "enqueue"
t1=$(enqueue --type message --queue "$Q" \
    --payload '{"platform":"telegram","chat_id":5151,"text":"to a chat"}') || die "enqueue"
start_worker w1 --queues "$Q" --concurrency 10
wait_until 20 '[ "$(zcard done)" -ge 4 ]' || fail "done=$(zcard done) of 4"

# result FIELD JOB: a field of the stored envelope's result
result() { "$PY" -c 'import json,sys; r = json.loads(sys.argv[1]).get("result")
print("NONE" if r is None else (json.dumps(r, separators=(",", ":")) if sys.argv[2] == "." else r.get(sys.argv[2])))' \
    "$(job_body "$2")" "$1"; }

fake_id=$(curl -s "$U/_fake/messages?channel_id=4242" | jq -r '.messages[0].id')
[ -n "$fake_id" ] && [ "$fake_id" != null ] || fail "the fake has no message in channel 4242"
assert_eq discord "$(result platform "$d1")" "discord result: platform"
assert_eq 4242 "$(result channel_id "$d1")" "discord result: channel_id"
assert_eq "$fake_id" "$(result message_id "$d1")" "discord result: the fake's message id"
assert_eq "$(result . "$d1")" "$("$CTL" show "$d1" --json | jq -c .result)" \
    "sluice-ctl show --json: result"
assert_eq "$(result . "$d1")" "$("$CTL" show "$d1" --json | jq -c .job.result)" \
    "sluice-ctl show --json: the envelope's result"
"$CTL" show "$d1" >"$TMP/show.txt" 2>&1
assert_contains "$(cat "$TMP/show.txt")" "\"message_id\": \"$fake_id\"" "sluice-ctl show: the result"

dm=$(result channel_id "$d2")
dm_id=$(curl -s "$U/_fake/messages?channel_id=$dm" | jq -r '.messages[0].id')
[ -n "$dm" ] && [ "$dm" != None ] && [ "$dm" != 777000 ] && ok "DM result: the DM channel $dm" ||
    fail "DM result: channel_id '$dm' is not a DM channel"
assert_eq "$dm_id" "$(result message_id "$d2")" "DM result: the fake's message id"

tg_id=$(curl -s "$U/_fake/messages?chat_id=5151" | jq -r '.messages[0].id')
assert_eq telegram "$(result platform "$t1")" "telegram result: platform"
assert_eq 5151 "$(result chat_id "$t1")" "telegram result: chat_id"
assert_eq "$tg_id" "$(result message_id "$t1")" "telegram result: the fake's message id"
assert_eq string "$("$CTL" show "$t1" --json | jq -r '.result.message_id | type')" \
    "telegram result: message_id is a string"

# the result feeds an edit
mid=$(result message_id "$t1")
e1=$(enqueue --type message --queue "$Q" --payload "{\"platform\":\"telegram\",\"chat_id\":5151,
    \"op\":\"edit\",\"message_id\":\"$mid\",\"text\":\"edited\"}") || die "enqueue edit"
wait_until 20 '[ "$(zcard done)" -ge 5 ]' || fail "the edit is not done"
assert_eq '["edited",true]' \
    "$(curl -s "$U/_fake/messages?chat_id=5151" | jq -c '[.messages[0].content, .messages[0].edited]')" \
    "the message the result named was edited"
assert_eq "$mid" "$(result message_id "$e1")" "edit result: the same message id"

# no result: the envelope is untouched
assert_eq "$before" "$(job_body "$nid")" "noop job's envelope unchanged by its ack"
assert_eq NONE "$(result . "$nid")" "noop job: no result field"
assert_eq null "$("$CTL" show "$nid" --json | jq -c .result)" "sluice-ctl show --json: result null"
assert_eq done "$("$CTL" show "$nid" --json | jq -r .state)" "noop job done"
stop "$(pid_of w1)"

# over the cap: done all the same, the result names the limit
start_worker w2 --queues "$Q" --concurrency 10 --result-max-bytes 64
big=$(enqueue --type message --queue "$Q" \
    --payload '{"platform":"discord","channel_id":"4343","content":"a result too big"}') || die "enqueue"
wait_until 20 '[ "$(zcard done)" -ge 6 ]' || fail "the job with a result over the cap is not done"
assert_eq 1 "$(curl -s "$U/_fake/messages?channel_id=4343" | jq .deliveries)" "sent once"
assert_eq "result over 64 bytes" "$(result error "$big")" "result over the cap: replaced"
n=$(result bytes "$big")
[ "$n" -gt 64 ] && ok "the replaced result's size ($n bytes) is given" || fail "bytes=$n"
assert_contains "$(cat "$TMP/w2.log")" "job result too big job=$big" "the worker says so"
assert_eq 0 "$(zcard dead)" "no job dead"
stop "$(pid_of w2)"
stop "$FAKE_PID"
assert_nothing_running
finish
