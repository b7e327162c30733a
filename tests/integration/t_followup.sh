# t_followup: reminders when no image was posted.
#  - an applicant who posted an image before the first check gets none;
#  - one who posts after the first reminder gets exactly one;
#  - one who never does gets exactly K (2), then no more;
#  - the follow-up timers live in Redis: the scheduler that leads is killed
#    with -9 between reminders and the other fires the rest, none twice.
. "$(dirname "$0")/lib.sh"

TOKEN="followup-$$-secret-token"
start_redis
start_fake fake --discord-token "$TOKEN" --global-limit 0 --bucket-limit 0
use_discord_fake "$TOKEN"

for u in 1 2 3; do
    enqueue --type interview --payload "{\"guild_id\":\"910\",\"user_id\":\"91000$u\",
        \"application_id\":\"f-$u\",\"intro\":{\"template\":\"hi {user}\"},
        \"followup\":{\"after_s\":2,\"reminders\":2,\"interval_s\":2,
                      \"text\":\"{user} please post an image\"}}" >/dev/null || die "enqueue"
done
start_scheduler s1 --reap-ms 200 --approval-interval-ms 0
start_scheduler s2 --reap-ms 200 --approval-interval-ms 0
start_worker w1 --queues interview,followup --concurrency 10
wait_until 10 '[ "$(stat_of processed interview)" -ge 3 ]' || die "interviews not done"
chan() { rcli hget "$SLUICE_PREFIX:{app}:app:f-$1" channel; }
reminders() { curl -s "$U/_fake/messages?channel_id=$(chan "$1")" |
    jq '[.contents[] | select(test("please post an image"))] | length'; }
image() {
    curl -s -o /dev/null -d "{\"post_message\":{\"channel_id\":\"$(chan "$1")\",
        \"author_id\":\"91000$1\",\"content\":\"here\",
        \"attachments\":[{\"filename\":\"id.png\",\"content_type\":\"image/png\",\"size\":1000}]}}" \
        "$U/_fake/config"
}
image 1
wait_until 10 '[ "$(reminders 2)" -ge 1 ]' || die "no first reminder for applicant 2"
image 2
assert_eq 1 "$(reminders 3)" "first reminder of applicant 3"
gap=$(curl -s "$U/_fake/messages?channel_id=$(chan 3)" |
    jq '[.messages[] | select(.bot != null)] | (.[1].t_ms - .[0].t_ms)')
[ "$gap" -ge 1900 ] && ok "the first reminder came ${gap} ms after the intro (after_s = 2)" ||
    fail "the first reminder came ${gap} ms after the intro, before its time (2 s)"
# kill the leader between the reminders; the standby takes over
leader=$(rcli get "$SLUICE_PREFIX:scheduler:leader")
case $leader in s1-*) victim=s1 ;; *) victim=s2 ;; esac
kill -9 "$(pid_of $victim)"
reap "$(pid_of $victim)"
wait_until 15 '[ "$(reminders 3)" -ge 2 ]' || fail "second reminder of applicant 3 never came"
# the chains of checks end: 1 run for applicant 1, 2 for 2, 2 for 3; then
# nothing is left that could post a reminder
wait_until 20 '[ "$(stat_of processed followup)" -ge 5 ] && [ "$(zcard delayed followup)" = 0 ] &&
               [ "$(zcard active followup)" = 0 ] && [ "$(ready_total followup)" = 0 ]' ||
    fail "follow-up checks still pending: processed=$(stat_of processed followup)"
assert_eq 0 "$(reminders 1)" "reminders to the applicant who posted an image at once"
assert_eq 1 "$(reminders 2)" "reminders to the applicant who posted after the first"
assert_eq 2 "$(reminders 3)" "reminders to the applicant who never posted (K = 2)"
assert_eq 0 "$(curl -s "$U/_fake/stats" | jq .duplicates)" "messages delivered twice"
assert_eq 1 "$(rcli hget "$SLUICE_PREFIX:{app}:app:f-2" image)" "applicant 2's image recorded"
assert_eq 0 "$(stat_of dead followup)" "dead follow-ups"
# the end: what was not killed stops on SIGTERM, and nothing is left running
survivor=s1
[ "$victim" = s1 ] && survivor=s2
for n in w1 "$survivor"; do
    stop "$(pid_of "$n")"
    assert_eq 0 "$STOP_STATUS" "$n: exit status after SIGTERM"
done
stop "$FAKE_PID"
assert_nothing_running
finish
