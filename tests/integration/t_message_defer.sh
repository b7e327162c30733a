# t_message_defer: a long rate-limit wait hands a message job back to
# Redis as a delayed job: no attempt used, counted as `deferred`, the
# worker carries on and stops cleanly. The wait: the bot is blocked for a
# minute in Redis, as a global 429 or an operator's pause leaves it (an
# invalid-request pause would do too, but its wait shrinks to under the
# 5 s a gate holds in memory near the end of each 10-minute window, so a
# test built on it fails at some times of day). Under ASan (SLUICE_BIN=build-san/bin, where the
# worker frees tasks for real) this is the path that read the task after
# freeing it (task_defer).
. "$(dirname "$0")/lib.sh"

start_redis
TOKEN="defer-$$-token"
start_fake fake --discord-token "$TOKEN"
use_discord_fake "$TOKEN"
start_worker w1 --queues "$Q" --concurrency 4
rcli set "$SLUICE_PREFIX:{rl:discord:default}:block" operator PX 60000 >/dev/null
id=$(enqueue --type message --queue "$Q"     --payload '{"platform":"discord","channel_id":"42","content":"later"}') || die "enqueue failed"
wait_until 20 '[ "$(zcard delayed)" = 1 ]' || fail "the job was not handed back as a delayed job"
assert_eq 1 "$(stat_of deferred)" "jobs deferred"
# the wait reaches the events stream (the archive's rollups count it as rate_limited)
assert_contains "$(rcli xrange "$SLUICE_PREFIX:events" - +)" "deferred"$'\t'"$id"$'\t'"message" \
    "the deferral in $SLUICE_PREFIX:events"
attempts=$(json_get "$(job_body "$id")" attempts)
assert_eq 0 "${attempts:-0}" "attempts used by the deferred job"
assert_contains "$(cat "$(log_of w1)")" "job deferred job=$id" "the worker's log"
wait_until 10 '[ "$(rcli hget "$SLUICE_PREFIX:worker:w1-$$" running)" = 0 ]' ||
    fail "the deferred job still holds a slot"
alive "$(pid_of w1)" && ok "the worker carries on" || fail "the worker died"

stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status"
stop "$FAKE_PID"
assert_nothing_running
finish
