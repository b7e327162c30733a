# t_ratelimit_bucket: a bucket of 10 per 1 s window kept to when its
# requests come in bursts at any moment of a window, beside a CPU-bound
# process. 14 bursts of 15 messages to one channel become due 1.2-2.6 s
# apart: a burst takes a window's 10 places and 5 of the next, and the
# next burst often comes while that window of ours still has places. The
# fake answers after 200 ms, as Discord may, so our idea of when the
# server's window ends is up to that late: a place granted in those last
# milliseconds reaches the server in its next window, beside the 10 we
# grant there (the "11 in a window of 10" of the approval sweeps). Three
# workers. Every message arrives once and the fake never refuses one (429).
. "$(dirname "$0")/lib.sh"

TOKEN="bucket-$$-secret-token"

start_redis
start_fake fake --discord-token "$TOKEN" --global-limit 50 --bucket-limit 10 \
    --bucket-window-ms 1000 --latency-ms 200 --log "$TMP/fake.jsonl"
use_discord_fake "$TOKEN"

"$PY" -c '
import json, random, sys
random.seed(int(sys.argv[2]))
at = 1000
for b in range(14):
    at += random.randrange(1200, 2600)
    for i in range(15):
        print(json.dumps({"type": "message", "queue": sys.argv[1], "delay_ms": at,
            "payload": {"platform": "discord", "channel_id": "7000", "content": "hot %d.%d" % (b, i)}}))
' "$Q" 9 >"$TMP/msgs.ndjson"
producer enqueue --ndjson "$TMP/msgs.ndjson" >/dev/null || die "enqueue failed"

# a CPU-bound neighbour for as long as the run may take
timeout 90 sh -c 'while :; do :; done' &
HOG=$!
ALL_PIDS+=("$HOG")
start_scheduler s1 --tick-ms 50
for i in 1 2 3; do
    start_worker "w$i" --queues "$Q" --concurrency 100
done
wait_until 80 '[ "$(stat_of processed)" -ge 210 ]' ||
    fail "processed=$(stat_of processed) of 210 after 80 s"
for i in 1 2 3; do stop "$(pid_of "w$i")"; done
stop "$(pid_of s1)"
kill "$HOG" 2>/dev/null
reap "$HOG"

stats=$(curl -s "$U/_fake/stats")
assert_eq 210 "$(jq .deliveries <<<"$stats")" "messages delivered"
assert_eq 0 "$(jq .duplicates <<<"$stats")" "messages delivered twice"
assert_eq 0 "$(jq .rate_limited.global <<<"$stats")" "global 429s"
assert_eq 0 "$(jq .rate_limited.user <<<"$stats")" "bucket 429s"
assert_eq 0 "$(stat_of dead)" "dead jobs"

stop "$FAKE_PID"
assert_nothing_running
finish
