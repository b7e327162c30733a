# t_interview: interview jobs against the fake Discord.
#  - 40 concurrent interviews in one guild: one channel listing serves them
#    all, 40 channels, 40 intros, every application registered.
#  - 20% of connections dropped after the fake acted: still one channel and
#    one intro per applicant (the `creating` mark, the nonce).
#  - a worker killed with -9 while its channel creates are in flight: the
#    jobs run again elsewhere and find the channels made the first time.
. "$(dirname "$0")/lib.sh"

TOKEN="interview-$$-secret-token"
start_redis
start_fake fake --discord-token "$TOKEN" --global-limit 0 --bucket-limit 0 \
    --latency list_channels=100 --latency create_channel=200 --latency create_message=50
use_discord_fake "$TOKEN"

# interview_jobs FILE GUILD COUNT: one job per applicant, users GUILD*1000+i
interview_jobs() {
    "$PY" -c '
import json, sys
g, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    u = str(int(g) * 1000 + i)
    print(json.dumps({"type": "interview", "payload": {"guild_id": g, "user_id": u,
        "application_id": "app-%s" % u, "reviewer_role_id": "77",
        "intro": {"template": "Hello {user}, {greeting} (application {application_id})",
                  "vars": {"greeting": "welcome to the interview"}},
        "followup": {"reminders": 0}, "approval": {"role_id": "555"}}}))
' "$2" "$3" >"$1"
}
routes() { curl -s "$U/_fake/stats" | jq -r ".requests.$1 // {} | add // 0"; }
guild_channels() {
    curl -s -A 'DiscordBot (https://sluice.invalid/test, 1.0)' -H "Authorization: Bot $TOKEN" \
        "$U/api/v10/guilds/$1/channels"
}
# check_guild GUILD COUNT WHAT: one channel per applicant, each in its record
check_guild() {
    local list n names
    list=$(guild_channels "$1")
    n=$(jq length <<<"$list")
    names=$(jq -r '[.[].name] | unique | length' <<<"$list")
    assert_eq "$2" "$n" "channels in guild $1 ($3)"
    assert_eq "$2" "$names" "distinct channel names in guild $1"
    local bad=0 i u ch
    for ((i = 0; i < $2; i++)); do
        u=$(($1 * 1000 + i))
        ch=$(rcli hget "$SLUICE_PREFIX:{app}:app:app-$u" channel)
        [ "$(jq -r --arg c "$ch" '[.[] | select(.id == $c)] | length' <<<"$list")" = 1 ] ||
            bad=$((bad + 1))
    done
    assert_eq 0 "$bad" "applications whose record lacks their channel (guild $1)"
}

interview_jobs "$TMP/a.ndjson" 900 40
producer enqueue --ndjson "$TMP/a.ndjson" >/dev/null || die "enqueue failed"
start_worker w1 --queues interview --concurrency 100
start_scheduler s1 --reap-ms 200
wait_until 30 '[ "$(stat_of processed interview)" -ge 40 ]' ||
    die "processed=$(stat_of processed interview) of 40: $(tail -5 "$(log_of w1)")"
assert_eq 1 "$(routes list_channels)" "channel listings for 40 concurrent interviews"
check_guild 900 40 "concurrent"
stats=$(curl -s "$U/_fake/stats")
assert_eq 40 "$(jq .deliveries <<<"$stats")" "intros delivered"
assert_eq 0 "$(jq .duplicates <<<"$stats")" "intros delivered twice"
assert_eq 40 "$(rcli zcard "$SLUICE_PREFIX:{app}:pending")" "applications pending approval"
msg=$(curl -s "$U/_fake/messages?channel_id=$(rcli hget "$SLUICE_PREFIX:{app}:app:app-900000" channel)")
assert_eq "Hello <@900000>, welcome to the interview (application app-900000)" \
    "$(jq -r '.contents[0]' <<<"$msg")" "the intro, filled in"
perm=$(guild_channels 900 | jq -c '.[0].permission_overwrites | map(.id) | sort')
assert_eq '["77","900","900000"]' "$perm" "who may see the channel: @everyone denied, applicant, reviewers"

# the same jobs again: nothing new
producer enqueue --ndjson "$TMP/a.ndjson" >/dev/null || die "enqueue failed"
wait_until 30 '[ "$(stat_of processed interview)" -ge 80 ]' || die "re-run did not finish"
check_guild 900 40 "after running every job twice"
assert_eq 40 "$(curl -s "$U/_fake/stats" | jq .deliveries)" "intros after running every job twice"

# dropped answers: the create happened, the worker never heard
curl -s -o /dev/null -d '{"drop_rate":0.2}' "$U/_fake/config"
interview_jobs "$TMP/b.ndjson" 901 40
producer enqueue --ndjson "$TMP/b.ndjson" >/dev/null || die "enqueue failed"
stop "$(pid_of w1)"
start_worker w2 --queues interview --concurrency 100 --backoff-base-ms 50 --backoff-max-ms 300
wait_until 60 '[ "$(stat_of processed interview)" -ge 120 ]' ||
    die "processed=$(stat_of processed interview) of 120"
curl -s -o /dev/null -d '{"drop_rate":0}' "$U/_fake/config"
[ "$(curl -s "$U/_fake/stats" | jq .dropped)" -ge 5 ] || fail "too few drops to mean anything"
check_guild 901 40 "with 20% of answers dropped"
assert_eq 0 "$(curl -s "$U/_fake/stats" | jq .duplicates)" "intros delivered twice"
assert_eq 0 "$(stat_of dead interview)" "dead interviews"

# kill -9 with creates in flight
stop "$(pid_of w2)"
curl -s -o /dev/null -d '{"latency":{"create_channel":1500}}' "$U/_fake/config"
before=$(routes create_channel)
interview_jobs "$TMP/c.ndjson" 902 30
producer enqueue --ndjson "$TMP/c.ndjson" >/dev/null || die "enqueue failed"
start_worker w3 --queues interview --concurrency 100 --lease-ms 1000
wait_until 20 '[ "$(routes create_channel)" -ge $((before + 10)) ]' || die "no creates sent"
kill -9 "$(pid_of w3)"
reap "$(pid_of w3)"
curl -s -o /dev/null -d '{"latency":{"create_channel":200}}' "$U/_fake/config"
start_worker w4 --queues interview --concurrency 100
wait_until 60 '[ "$(stat_of processed interview)" -ge 150 ]' ||
    die "processed=$(stat_of processed interview) of 150 after the kill"
check_guild 902 30 "after kill -9 mid-create"
assert_eq 0 "$(curl -s "$U/_fake/stats" | jq .duplicates)" "intros delivered twice"
[ "$(stat_of reclaimed interview)" -ge 1 ] && ok "jobs of the killed worker were reclaimed" ||
    fail "nothing was reclaimed: the kill did not test anything"
assert_not_contains "$(cat "$TMP"/*.log)" "$TOKEN" "logs"
# the end: each process stops on SIGTERM, and nothing is left running
stop "$(pid_of w4)"
assert_eq 0 "$STOP_STATUS" "w4: exit status after SIGTERM"
stop "$(pid_of s1)"
assert_eq 0 "$STOP_STATUS" "s1: exit status after SIGTERM"
stop "$FAKE_PID"
assert_nothing_running
finish
