# t_message_user_agent: Discord requires "User-Agent: DiscordBot ($url,
# $versionNumber)" of every HTTP client, and the fake refuses any other with
# a 403, as a strict Discord would. The worker sends that form, with the URL
# and version of --discord-ua-url / --discord-ua-version (or their defaults);
# a value that would break the form stops the worker at start-up, naming
# the option.
. "$(dirname "$0")/lib.sh"

TOKEN="ua-$$-secret-token"
start_redis
start_fake fake --discord-token "$TOKEN" --latency-ms 2
use_discord_fake "$TOKEN"

discord_jobs "$TMP/msgs.ndjson" 6 3 100 "ua"
producer enqueue --ndjson "$TMP/msgs.ndjson" >/dev/null || die "enqueue failed"
start_worker w1 --queues "$Q" --concurrency 10 --discord-ua-url https://bots.example/ua \
    --discord-ua-version 2.3
wait_until 20 '[ $(( $(stat_of processed) + $(zcard dead) )) -ge 6 ]' ||
    fail "processed=$(stat_of processed) dead=$(zcard dead) of 6"
stop "$(pid_of w1)"
stats=$(curl -s "$U/_fake/stats")
assert_eq 6 "$(jq .deliveries <<<"$stats")" "messages delivered"
assert_eq 0 "$(jq .bad_user_agent <<<"$stats")" "requests refused for their User-Agent"
assert_eq '["DiscordBot (https://bots.example/ua, 2.3)"]' "$(jq -c .user_agents <<<"$stats")" \
    "User-Agents the fake saw"

# the defaults
curl -s -o /dev/null -X POST "$U/_fake/reset"
discord_jobs "$TMP/more.ndjson" 2 2 200 "default ua"
producer enqueue --ndjson "$TMP/more.ndjson" >/dev/null || die "enqueue failed"
start_worker w2 --queues "$Q" --concurrency 10
wait_until 20 '[ $(( $(stat_of processed) + $(zcard dead) )) -ge 8 ]' ||
    fail "processed=$(stat_of processed) dead=$(zcard dead) of 8"
stop "$(pid_of w2)"
stats=$(curl -s "$U/_fake/stats")
assert_eq 2 "$(jq .deliveries <<<"$stats")" "messages delivered with the default User-Agent"
assert_contains "$(jq -c .user_agents <<<"$stats")" "DiscordBot (https://" "the default User-Agent"

# a value that would break the form
rc=0
out=$("$SLUICE_BIN/sluice-worker" --queues "$Q" --discord-ua-version "1, beta" 2>&1) || rc=$?
assert_eq 2 "$rc" "exit status with a bad --discord-ua-version"
assert_contains "$out" "--discord-ua-version" "the error names the option"
stop "$FAKE_PID"
assert_nothing_running
finish
