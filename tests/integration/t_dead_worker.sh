# t_dead_worker: a dead worker's jobs come back in seconds, not a lease;
# a worker that was only paused keeps its jobs. The scheduler runs with its
# defaults (a worker silent 15 s, 3 beats of 5 s, is dead). Three workers
# hold jobs with leases far longer than the test, so only the heartbeat path
# can bring their jobs back in time:
#   k: 500 jobs of queue qk, lease 120 s, killed with SIGKILL: all 500 run
#      on worker b well before any lease could expire (the seconds from the
#      kill to all 500 running are printed);
#   s: 100 jobs of queue qs, default lease, SIGSTOPped 8 s (less than 3
#      beats) then resumed: none of its jobs is taken back or runs twice;
#   d: 50 jobs of queue qd, lease 120 s, SIGSTOPped until its jobs run on b,
#      then resumed: its acks are refused as stale and logged,
#      it does not crash, and each of its jobs is done once, by b.
#   z: alive but beating every 45 s (silent past --worker-dead-ms, not dead
#      by its own beats) and registered before k: the scheduler sees it
#      first among the silent, yet k's jobs come back before z beats again.
. "$(dirname "$0")/lib.sh"

QK=qk QS=qs QD=qd
start_redis
start_scheduler s1
start_worker z --queues qz --heartbeat-ms 45000
wait_until 10 '[ -n "$(rcli zscore "$SLUICE_PREFIX:workers" "z-$$")" ]' || die "z did not register"
start_worker k --queues "$QK" --concurrency 500 --lease-ms 120000
start_worker s --queues "$QS" --concurrency 100 --latency-log "$TMP/lat.s"
start_worker d --queues "$QD" --concurrency 50 --lease-ms 120000
wait_until 10 'grep -q "leader now" "$(log_of s1)"' || die "scheduler did not become leader"
wait_until 10 '[ "$(rcli zcard "$SLUICE_PREFIX:workers")" -ge 4 ]' || die "workers did not register"

jobs() { # jobs QUEUE COUNT MS
    "$PY" -c 'import json, sys
for i in range(int(sys.argv[2])):
    print(json.dumps({"type": "sleep", "queue": sys.argv[1], "payload": {"ms": int(sys.argv[3])}}))' "$@"
}
jobs "$QK" 500 8000 >"$TMP/k.ndjson"
jobs "$QS" 100 10000 >"$TMP/s.ndjson"
jobs "$QD" 50 8000 >"$TMP/d.ndjson"
producer enqueue --ndjson "$TMP/k.ndjson" >"$TMP/k.ids" || die "enqueue failed"
producer enqueue --ndjson "$TMP/s.ndjson" >"$TMP/s.ids" || die "enqueue failed"
producer enqueue --ndjson "$TMP/d.ndjson" >"$TMP/d.ids" || die "enqueue failed"
wait_until 10 '[ "$(zcard active "$QK")" = 500 ] && [ "$(zcard active "$QS")" = 100 ] && [ "$(zcard active "$QD")" = 50 ]' ||
    die "the workers did not claim their jobs (active: $(zcard active "$QK") $(zcard active "$QS") $(zcard active "$QD"))"

z_beat=$(rcli zscore "$SLUICE_PREFIX:workers" "z-$$")
kill -KILL "$(pid_of k)"
kill -STOP "$(pid_of s)" "$(pid_of d)"
t_kill=$(now_ms)
wait_until 5 '! alive "$(pid_of k)"' || fail "k survived SIGKILL"
reap "$(pid_of k)"
start_worker b --queues "$QK,$QS,$QD" --concurrency 700 --latency-log "$TMP/lat.b"

# s is paused for less than 3 beats (a stimulus, not a synchronisation)
sleep 8
kill -CONT "$(pid_of s)"

held_by_b() { rcli hvals "$(k lease "$1")" | grep -c "^b-$$/"; }
# (60 s: half the lease, so only the heartbeat path can pass this)
if wait_until 60 '[ "$(held_by_b "$QK")" = 500 ]'; then
    t_running=$(now_ms)
    say "# measured: kill -9 of k to all 500 of its jobs running on b: $(( (t_running - t_kill) / 1000 )).$(( (t_running - t_kill) % 1000 / 100 )) s (lease 120 s)"
    ok "k's jobs came back before their lease could expire"
    assert_eq "$z_beat" "$(rcli zscore "$SLUICE_PREFIX:workers" "z-$$")" \
        "z's heartbeat when k's jobs were back (z, silent but alive, held up nothing)"
else
    fail "k's jobs not all running on b 60 s after the kill (held by b: $(held_by_b "$QK"), ready: $(ready_total "$QK"), active: $(zcard active "$QK"))"
fi

# d: its jobs run on b now; resumed, it finds its leases taken
wait_until 30 '[ "$(held_by_b "$QD")" = 50 ]' || fail "d's jobs not running on b"
kill -CONT "$(pid_of d)"
wait_until 15 'grep -q "settle refused as stale kind=ack" "$(log_of d)"' || fail "d's acks were not refused as stale"
alive "$(pid_of d)" && ok "d still running after its acks were refused" || fail "d died"
wait_until 15 '[ -n "$(rcli zscore "$SLUICE_PREFIX:workers" "d-$$")" ]' ||
    fail "d did not register again after it resumed"

wait_until 40 '[ "$(zcard done "$QK")" = 500 ] && [ "$(zcard done "$QS")" = 100 ] && [ "$(zcard done "$QD")" = 50 ]' ||
    fail "not all done: $QK $(zcard done "$QK")/500, $QS $(zcard done "$QS")/100, $QD $(zcard done "$QD")/50"

for w in s d b z; do
    stop "$(pid_of "$w")"
    assert_eq 0 "$STOP_STATUS" "worker $w exit status"
    assert_eq "" "$(rcli zscore "$SLUICE_PREFIX:workers" "$w-$$")" "$w left the registry when it stopped"
done
assert_eq "" "$(rcli zscore "$SLUICE_PREFIX:workers" "k-$$")" "k removed from the registry as dead"

# k: every job ran again on b and is done once
assert_eq 500 "$(stat_of reclaimed "$QK")" "$QK reclaimed"
assert_eq 500 "$(stat_of processed "$QK")" "$QK processed"
assert_eq 0 "$(zcard dead "$QK")" "$QK dead"
sort "$TMP/k.ids" >"$TMP/k.sorted"
awk '{print $1}' "$TMP/lat.b" | sort | comm -12 - "$TMP/k.sorted" >"$TMP/k.on_b"
assert_eq 500 "$(grep -c . "$TMP/k.on_b")" "jobs of k that ran on b"

# s: paused less than 3 beats: nothing taken back, nothing ran twice
assert_eq 0 "$(stat_of reclaimed "$QS")" "$QS reclaimed"
assert_eq 0 "$(stat_of stale "$QS")" "$QS stale"
assert_eq 100 "$(stat_of processed "$QS")" "$QS processed"
sort "$TMP/s.ids" >"$TMP/s.sorted"
cat "$TMP/lat.s" "$TMP/lat.b" | awk '{print $1}' | grep -Fxf "$TMP/s.sorted" | sort | uniq -c |
    awk '$1 != 1' >"$TMP/s.twice"
assert_eq 0 "$(grep -c . "$TMP/s.twice")" "jobs of s that ran other than once"
assert_eq 100 "$(awk '{print $1}' "$TMP/lat.s" | sort -u | comm -12 - "$TMP/s.sorted" | grep -c .)" "jobs of s that ran on s"
assert_not_contains "$(cat "$(log_of s)")" "lost" "s's log"
assert_not_contains "$(cat "$(log_of s1)")" "worker dead worker=s-$$" "the scheduler's log about s"

# d: taken back, run by b, done once; d's outcomes refused
assert_eq 50 "$(stat_of reclaimed "$QD")" "$QD reclaimed"
assert_eq 50 "$(stat_of processed "$QD")" "$QD processed"
stale=$(stat_of stale "$QD")
[ "$stale" -ge 50 ] && ok "d's refused calls counted (stale=$stale)" || fail "$QD stale=$stale, expected >= 50"
assert_contains "$(cat "$(log_of s1)")" "worker dead worker=k-$$" "the scheduler logs k's death"
assert_contains "$(cat "$(log_of s1)")" "worker dead worker=d-$$" "the scheduler logs d's death"

stop "$(pid_of s1)"
assert_eq 0 "$STOP_STATUS" "scheduler exit status"
assert_nothing_running
finish
