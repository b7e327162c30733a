# t_approval_bucket: approval sweeps keep to the member-lookup bucket.
# 60 pending applications checked by role, two workers, sweeps every 300 ms
# from two schedulers; the fake limits every route to 10 requests per 1 s
# window per guild or channel (so all member lookups of the guild share one
# bucket) and 50/s for the bot. Several sweeps later: no request met a 429,
# no fake window held more than 10 member lookups, and the members given
# the role were welcomed once each.
. "$(dirname "$0")/lib.sh"

TOKEN="approval-bucket-$$-secret-token"
start_redis
start_fake fake --discord-token "$TOKEN" --global-limit 50 --bucket-limit 10 \
    --bucket-window-ms 1000 --latency-ms 20 --log "$TMP/fake.jsonl"
use_discord_fake "$TOKEN"

N=60
for ((i = 0; i < N; i++)); do
    printf '{"type":"interview","payload":{"guild_id":"930","user_id":"%d","application_id":"b-%d","intro":{"template":"hi"},"followup":{"reminders":0},"approval":{"role_id":"556","deadline_s":600,"welcome":"welcome {user}"}}}\n' $((93000 + i)) $i
done >"$TMP/apps.ndjson"
producer enqueue --ndjson "$TMP/apps.ndjson" >/dev/null || die "enqueue failed"
start_worker w1 --queues approval,interview,message --concurrency 200
start_worker w2 --queues approval,interview,message --concurrency 200
start_scheduler s1 --reap-ms 200 --approval-interval-ms 300
start_scheduler s2 --reap-ms 200 --approval-interval-ms 300
wait_until 60 '[ "$(stat_of processed interview)" -ge $N ]' || die "interviews not done"

# a third of them get the role; sweeps go on until they are all welcomed
roles='{' sep=''
for ((i = 0; i < N; i += 3)); do roles+="$sep\"930/$((93000 + i))\":[\"556\"]"; sep=','; done
curl -s -o /dev/null -d "{\"member_roles\":$roles}}" "$U/_fake/config"
sweeps() { cat "$(log_of w1)" "$(log_of w2)" | grep -c "approval sweep done"; }
wait_until 60 '[ "$(rcli zcard "$SLUICE_PREFIX:{app}:pending")" -le $((N - N / 3)) ] &&
               [ "$(sweeps)" -ge 3 ] && [ "$(ready_total message)" = 0 ] &&
               [ "$(zcard active message)" = 0 ]' ||
    die "pending=$(rcli zcard "$SLUICE_PREFIX:{app}:pending") sweeps=$(sweeps)"
for w in w1 w2 s1 s2; do stop "$(pid_of $w)"; done

stats=$(curl -s "$U/_fake/stats")
lookups=$(jq -s '[.[] | select(.route == "get_member")] | length' "$TMP/fake.jsonl")
[ "$lookups" -ge $((2 * N)) ] && ok "member lookups made: $lookups" ||
    fail "only $lookups member lookups: the sweeps did not test the bucket"
assert_eq 0 "$(jq '.rate_limited.user // 0' <<<"$stats")" "bucket 429s"
assert_eq 0 "$(jq '.rate_limited.global // 0' <<<"$stats")" "global 429s"
# the fake's own windows: one opens at the first lookup after the last ended
most=$(jq -s '[.[] | select(.route == "get_member") | .t_ms] | sort
    | reduce .[] as $t ({start: -1e18, n: 0, most: 0};
        if $t >= .start + 1000 then {start: $t, n: 1, most: ([.most, 1] | max)}
        else {start, n: (.n + 1), most: ([.most, .n + 1] | max)} end) | .most' "$TMP/fake.jsonl")
assert_le "$most" 10 "member lookups in one bucket window (of 10)"
welcomed=0
for ((i = 0; i < N; i += 3)); do
    ch=$(rcli hget "$SLUICE_PREFIX:{app}:app:b-$i" channel)
    n=$(curl -s "$U/_fake/messages?channel_id=$ch" | jq '[.contents[] | select(startswith("welcome"))] | length')
    [ "$n" = 1 ] && welcomed=$((welcomed + 1))
done
assert_eq $((N / 3)) "$welcomed" "members with the role welcomed exactly once"
assert_eq 0 "$(jq .duplicates <<<"$stats")" "messages delivered twice"
stop "$FAKE_PID"
assert_nothing_running
finish
