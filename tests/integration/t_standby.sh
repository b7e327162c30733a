# t_standby: two schedulers, one leads. When the leader is killed with
# SIGKILL the standby takes the lock within a few seconds (lock TTL 3 s) and
# does the work: a delayed job enqueued after the kill still runs.
. "$(dirname "$0")/lib.sh"

start_redis
start_scheduler s1
start_scheduler s2
start_worker w1 --queues "$Q"
LOCK="$SLUICE_PREFIX:scheduler:leader"
wait_until 10 '[ -n "$(rcli get "$LOCK")" ]' || die "no scheduler took the lock"
leader_id=$(rcli get "$LOCK")
case $leader_id in
"s1-$$") leader=s1 standby=s2 ;;
"s2-$$") leader=s2 standby=s1 ;;
*) die "the lock holds '$leader_id', neither scheduler's id" ;;
esac
ok "$leader leads"
# a delayed job through the first leader, so the queue is known and working
id0=$(enqueue --type noop --queue "$Q" --delay-ms 200 --payload '{}') || die "enqueue failed"
wait_until 10 '[ -n "$(rcli zscore "$(k done)" "$id0")" ]' || fail "delayed job not run under the first leader"
grep -q "leader now" "$(log_of $standby)" && fail "the standby $standby also claims to lead" ||
    ok "the standby $standby does not lead"

t0=$(now_ms)
kill -KILL "$(pid_of $leader)"
wait_until 5 '! alive "$(pid_of $leader)"' || fail "$leader survived SIGKILL"
reap "$(pid_of $leader)"
id=$(enqueue --type noop --queue "$Q" --delay-ms 300 --payload '{}') || die "enqueue failed"

wait_until 8 '[ "$(rcli get "$LOCK")" = "$standby-$$" ]' ||
    fail "the lock holds '$(rcli get "$LOCK")' 8 s after the leader died, expected $standby-$$"
t1=$(now_ms)
say "# $standby took the lock $((t1 - t0)) ms after the kill"
wait_until 2 'grep -q "leader now" "$(log_of $standby)"' && ok "$standby logs 'leader now'" ||
    fail "$standby does not log 'leader now'"
wait_until 10 '[ -n "$(rcli zscore "$(k done)" "$id")" ]' ||
    fail "the delayed job enqueued after the kill is not done 10 s later (delayed=$(zcard delayed))"

stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status"
stop "$(pid_of $standby)"
assert_eq 0 "$STOP_STATUS" "$standby exit status"
wait_until 2 '[ -z "$(rcli get "$LOCK")" ]' && ok "the lock is released on SIGTERM" ||
    fail "the lock still holds '$(rcli get "$LOCK")' after the leader stopped"

assert_nothing_running
finish
