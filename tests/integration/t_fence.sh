# t_fence: leases are fenced. Worker A (1 s lease) claims two sleep jobs and
# is paused with SIGSTOP past its lease; the scheduler puts them back and
# worker B (30 s lease) claims and runs them. Resumed with SIGCONT, A's
# renew, its ack of the job it finished and its SIGTERM hand-back of the
# other all reach Redis with A's old lease token: each is refused and
# counted as `stale` (A logs it once per call), B's lease keeps its
# deadline, the first job is `done` only once B finishes it, and the second
# stays B's. A exits cleanly; B's own calls are never stale.
. "$(dirname "$0")/lib.sh"

start_redis
start_scheduler s1 --reap-ms 200
start_worker a --queues "$Q" --concurrency 2 --lease-ms 1000 --grace-ms 0
wait_until 10 'grep -q "leader now" "$(log_of s1)"' || die "scheduler did not become leader"
wait_until 10 '[ -n "$(rcli zscore "$SLUICE_PREFIX:workers" "a-$$")" ]' || die "worker a did not register"

x1=$(enqueue --type sleep --queue "$Q" --payload '{"ms":10000}') || die "enqueue failed"
x2=$(enqueue --type sleep --queue "$Q" --payload '{"ms":120000}') || die "enqueue failed"
wait_until 10 '[ "$(zcard active)" = 2 ]' || die "worker a did not claim both jobs"
token_a=$(rcli hget "$(k lease)" "$x1")
assert_contains "$token_a" "a-$$/" "the lease of $x1 names worker a"

# A is paused past its 1 s lease: the scheduler takes both jobs back
kill -STOP "$(pid_of a)"
wait_until 15 '[ "$(stat_of reclaimed)" -ge 2 ]' || die "the scheduler did not reclaim a's jobs"
assert_eq 2 "$(ready_total)" "a's jobs back in ready"

start_worker b --queues "$Q" --concurrency 2 --lease-ms 30000 --grace-ms 0
wait_until 10 '[ "$(zcard active)" = 2 ] && [ "$(ready_total)" = 0 ]' || die "worker b did not claim both jobs"
token_b=$(rcli hget "$(k lease)" "$x1")
assert_contains "$token_b" "b-$$/" "the lease of $x1 names worker b"
score_b=$(rcli zscore "$(k active)" "$x1")
assert_contains "$("$SLUICE_BIN/sluice-ctl" show "$x1")" "held by worker b-$$, claim" "sluice-ctl show names the lease's holder"

# A resumes: its renew (due at once) and then its ack of x1 (its 10 s sleep
# ends, counted from its own start) go out with its old token while B runs x1
kill -CONT "$(pid_of a)"
wait_until 10 'grep -q "leases lost" "$(log_of a)"' ||
    fail "worker a did not learn that its leases were lost (its renew was not refused)"
wait_until 15 'grep -q "settle refused as stale kind=ack" "$(log_of a)"' ||
    fail "worker a's ack of $x1 was not refused as stale"
# B is still running x1 (its own 10 s started seconds after a's)
assert_eq "" "$(rcli zscore "$(k done)" "$x1")" "$x1 is not done while b runs it"
assert_eq "$token_b" "$(rcli hget "$(k lease)" "$x1")" "the lease of $x1 after a's ack"
score=$(rcli zscore "$(k active)" "$x1")
[ -n "$score" ] && [ "${score%.*}" -ge "${score_b%.*}" ] &&
    ok "a's renew did not shorten b's lease of $x1 ($score >= $score_b)" ||
    fail "a's renew shortened b's lease of $x1: score '$score', b's was $score_b"
assert_eq 0 "$(stat_of processed)" "jobs processed while b still runs them"

# A's SIGTERM hands back x2, which is b's now: refused
stop "$(pid_of a)"
assert_eq 0 "$STOP_STATUS" "worker a exit status"
assert_contains "$(cat "$(log_of a)")" "settle refused as stale kind=fail" "a's hand-back refused and logged"
assert_eq 0 "$(ready_total)" "jobs in ready after a's hand-back"
assert_eq "$token_b" "$(rcli hget "$(k lease)" "$x2")" "the lease of $x2 after a's hand-back"
[ -n "$(rcli zscore "$(k active)" "$x2")" ] && ok "$x2 still active under b" || fail "$x2 left active"
stale=$(stat_of stale)
[ "$stale" -ge 4 ] && ok "stale calls counted (stale=$stale: 2 renewed, 1 acked, 1 handed back)" ||
    fail "stats stale=$stale, expected at least 4"
assert_contains "$("$SLUICE_BIN/sluice-ctl" stats)" "STALE" "sluice-ctl stats has a STALE column"
lines=$(grep -c "settle refused as stale" "$(log_of a)")
assert_eq 2 "$lines" "lines a logged for its refused settles (one per call)"

# B finishes x1: done once
wait_until 20 '[ -n "$(rcli zscore "$(k done)" "$x1")" ]' || fail "$x1 not done after b ran it"
assert_eq 1 "$(stat_of processed)" "jobs processed"
assert_eq "" "$(rcli hget "$(k lease)" "$x1")" "no lease left for the done job"
assert_eq "$stale" "$(stat_of stale)" "stale count after b's ack (b's ack is not stale)"

# B's own SIGTERM hand-back of x2 goes through
stop "$(pid_of b)"
assert_eq 0 "$STOP_STATUS" "worker b exit status"
assert_eq 1 "$(ready_total)" "x2 handed back to ready by b"
assert_eq "$stale" "$(stat_of stale)" "stale count after b's hand-back"
assert_eq 0 "$(rcli hlen "$(k lease)")" "lease fields left"
assert_not_contains "$(cat "$(log_of b)")" "stale" "worker b log"
assert_eq "" "$(rcli zscore "$SLUICE_PREFIX:workers" "b-$$")" "b left the registry when it stopped"
assert_eq "" "$(rcli zscore "$SLUICE_PREFIX:workers" "a-$$")" "a left the registry when it stopped"

stop "$(pid_of s1)"
assert_eq 0 "$STOP_STATUS" "scheduler exit status"
assert_nothing_running
finish
