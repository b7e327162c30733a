# t_fence: leases are fenced, and a worker that learns it lost a lease stops
# the run. Worker A (1 s lease) claims two sleep jobs and is paused with
# SIGSTOP past its lease, until its 4 s run of x1 is over; the scheduler
# puts them back and worker B (30 s lease) claims and runs them. Resumed
# with SIGCONT, A acks x1 and renews both in the same loop turn, with its
# old lease token: both are refused and counted as `stale` (A logs each
# once), B's lease keeps its deadline, and x1 is `done` only once B
# finishes it. Told by the refused renew, A stops its run of x2 (B's now):
# nothing settled, its slot free, `abandoned=1` when it stops, so its
# SIGTERM has nothing to hand back. Worker C (10 min lease, so no renew in
# this test) is declared dead by its missed heartbeats while paused, and
# gets SIGTERM before it resumes: its hand-back of x3, B's now, is refused.
# A and C exit cleanly; B's own calls are never stale.
. "$(dirname "$0")/lib.sh"

QC=qc
start_redis
start_scheduler s1 --reap-ms 200 --worker-dead-ms 1000
start_worker a --queues "$Q" --concurrency 2 --lease-ms 1000 --heartbeat-ms 200 --grace-ms 0
start_worker c --queues "$QC" --concurrency 1 --lease-ms 600000 --heartbeat-ms 200 --grace-ms 0
wait_until 10 'grep -q "leader now" "$(log_of s1)"' || die "scheduler did not become leader"
wait_until 10 '[ -n "$(rcli zscore "$SLUICE_PREFIX:workers" "a-$$")" ]' || die "worker a did not register"
wait_until 10 '[ -n "$(rcli zscore "$SLUICE_PREFIX:workers" "c-$$")" ]' || die "worker c did not register"

x1=$(enqueue --type sleep --queue "$Q" --payload '{"ms":4000}') || die "enqueue failed"
x2=$(enqueue --type sleep --queue "$Q" --payload '{"ms":120000}') || die "enqueue failed"
x3=$(enqueue --type sleep --queue "$QC" --payload '{"ms":120000}') || die "enqueue failed"
wait_until 10 '[ "$(zcard active)" = 2 ] && [ "$(zcard active "$QC")" = 1 ]' ||
    die "workers a and c did not claim their jobs"
t_claimed=$(now_ms)
token_a=$(rcli hget "$(k lease)" "$x1")
assert_contains "$token_a" "a-$$/" "the lease of $x1 names worker a"
assert_contains "$(rcli hget "$(k lease "$QC")" "$x3")" "c-$$/" "the lease of $x3 names worker c"

# A is paused past its 1 s lease, C past 3 of its beats: the scheduler
# takes their jobs back
kill -STOP "$(pid_of a)" "$(pid_of c)"
wait_until 15 '[ "$(stat_of reclaimed)" -ge 2 ] && [ "$(stat_of reclaimed "$QC")" = 1 ]' ||
    die "the scheduler did not reclaim the jobs of a and c"
assert_eq 2 "$(ready_total)" "a's jobs back in ready"
assert_eq 1 "$(ready_total "$QC")" "c's job back in ready"
# (a stimulus, not a synchronisation: a's 4 s run of x1 ends while it is paused)
sleep $(( (t_claimed + 4500 - $(now_ms)) / 1000 + 1 ))

start_worker b --queues "$Q,$QC" --concurrency 3 --lease-ms 30000 --grace-ms 0
wait_until 10 '[ "$(zcard active)" = 2 ] && [ "$(ready_total)" = 0 ] && [ "$(ready_total "$QC")" = 0 ]' ||
    die "worker b did not claim the three jobs"
token_b=$(rcli hget "$(k lease)" "$x1")
assert_contains "$token_b" "b-$$/" "the lease of $x1 names worker b"
token_b3=$(rcli hget "$(k lease "$QC")" "$x3")
assert_contains "$token_b3" "b-$$/" "the lease of $x3 names worker b"
score_b=$(rcli zscore "$(k active)" "$x1")
assert_contains "$("$SLUICE_BIN/sluice-ctl" show "$x1")" "held by worker b-$$, claim" "sluice-ctl show names the lease's holder"

# A resumes: its renew (due at once) and its ack of x1 (its run ended while
# it was paused) go out with its old token while B runs x1
kill -CONT "$(pid_of a)"
wait_until 10 'grep -q "leases lost" "$(log_of a)"' ||
    fail "worker a did not learn that its leases were lost (its renew was not refused)"
wait_until 15 'grep -q "settle refused as stale kind=ack" "$(log_of a)"' ||
    fail "worker a's ack of $x1 was not refused as stale"
# B is still running x1 (its own 4 s started after a's run ended)
assert_eq "" "$(rcli zscore "$(k done)" "$x1")" "$x1 is not done while b runs it"
assert_eq "$token_b" "$(rcli hget "$(k lease)" "$x1")" "the lease of $x1 after a's ack"
score=$(rcli zscore "$(k active)" "$x1")
[ -n "$score" ] && [ "${score%.*}" -ge "${score_b%.*}" ] &&
    ok "a's renew did not shorten b's lease of $x1 ($score >= $score_b)" ||
    fail "a's renew shortened b's lease of $x1: score '$score', b's was $score_b"
assert_eq 0 "$(stat_of processed)" "jobs processed while b still runs them"

# A stopped its run of x2 once its renew was refused: nothing runs there
wait_until 10 '[ "$(rcli hget "$SLUICE_PREFIX:worker:a-$$" running)" = 0 ]' ||
    fail "worker a still runs $x2 after its lease was refused (running=$(rcli hget "$SLUICE_PREFIX:worker:a-$$" running))"
# (one line per renew call; a timer overdue after the pause fires twice)
assert_eq 1 "$(grep -c "leases lost .* abandoned=1 sample=" "$(log_of a)")" "lines a logged for the run it stopped"

# A's SIGTERM: nothing left to hand back; x2 stays b's
stop "$(pid_of a)"
assert_eq 0 "$STOP_STATUS" "worker a exit status"
assert_contains "$(grep "worker stopped" "$(log_of a)")" "abandoned=1" "a counts the run it abandoned"
assert_not_contains "$(cat "$(log_of a)")" "settle refused as stale kind=fail" "a's log (nothing handed back)"
assert_eq 0 "$(ready_total)" "jobs in ready after a stopped"
assert_eq "$token_b" "$(rcli hget "$(k lease)" "$x2")" "the lease of $x2 after a stopped"
[ -n "$(rcli zscore "$(k active)" "$x2")" ] && ok "$x2 still active under b" || fail "$x2 left active"
stale=$(stat_of stale)
[ "$stale" -ge 2 ] && ok "stale calls counted (stale=$stale: renews and 1 ack)" ||
    fail "stats stale=$stale, expected at least 2"
assert_contains "$("$SLUICE_BIN/sluice-ctl" stats)" "STALE" "sluice-ctl stats has a STALE column"
assert_eq 1 "$(grep -c "settle refused as stale" "$(log_of a)")" "lines a logged for its refused settles (one per call)"

# C gets SIGTERM while still paused: resumed, it hands x3 back at once (its
# next renew is minutes away) with its old token: refused, x3 stays b's
kill -TERM "$(pid_of c)"
kill -CONT "$(pid_of c)"
wait_until 10 '! alive "$(pid_of c)"' || fail "worker c did not stop"
stop "$(pid_of c)"
assert_eq 0 "$STOP_STATUS" "worker c exit status"
assert_contains "$(cat "$(log_of c)")" "settle refused as stale kind=fail" "c's hand-back refused and logged"
assert_eq 0 "$(ready_total "$QC")" "jobs in ready after c's hand-back"
assert_eq "$token_b3" "$(rcli hget "$(k lease "$QC")" "$x3")" "the lease of $x3 after c's hand-back"
assert_eq 1 "$(stat_of stale "$QC")" "$QC stale (c's hand-back)"

# B finishes x1: done once
wait_until 20 '[ -n "$(rcli zscore "$(k done)" "$x1")" ]' || fail "$x1 not done after b ran it"
assert_eq 1 "$(stat_of processed)" "jobs processed"
assert_eq "" "$(rcli hget "$(k lease)" "$x1")" "no lease left for the done job"
stale=$(stat_of stale)
assert_eq "$stale" "$(stat_of stale)" "stale count after b's ack (b's ack is not stale)"

# B's own SIGTERM hand-back of x2 and x3 goes through
stop "$(pid_of b)"
assert_eq 0 "$STOP_STATUS" "worker b exit status"
assert_eq 1 "$(ready_total)" "x2 handed back to ready by b"
assert_eq 1 "$(ready_total "$QC")" "x3 handed back to ready by b"
assert_eq "$stale" "$(stat_of stale)" "stale count after b's hand-back"
assert_eq 1 "$(stat_of stale "$QC")" "$QC stale after b's hand-back"
assert_eq 0 "$(rcli hlen "$(k lease)")" "lease fields left"
assert_eq 0 "$(rcli hlen "$(k lease "$QC")")" "lease fields left in $QC"
assert_not_contains "$(cat "$(log_of b)")" "stale" "worker b log"
assert_not_contains "$(cat "$(log_of b)")" "leases lost" "worker b log"
for w in a b c; do
    assert_eq "" "$(rcli zscore "$SLUICE_PREFIX:workers" "$w-$$")" "$w left the registry when it stopped"
done

stop "$(pid_of s1)"
assert_eq 0 "$STOP_STATUS" "scheduler exit status"
assert_nothing_running
finish
