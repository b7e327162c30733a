# t_sd_notify: the worker, two schedulers and the intake under a
# Type=notify supervisor, played by notify_listen.py on a Unix datagram
# socket each (NOTIFY_SOCKET) with WATCHDOG_USEC set. They start while
# Redis is down: WATCHDOG=1 comes from the start, READY=1 only once Redis
# is up (with the scripts loaded); WATCHDOG=1 keeps coming; STATUS= says
# what each is doing, changes with load (jobs in flight, leader or
# follower, requests open and waiting) and is never sent twice the same in a row;
# SIGTERM sends STOPPING=1, and the worker's watchdog goes on while it
# drains. Then, when this machine runs systemd as PID 1, the worker runs
# once more as a real transient Type=notify unit (systemd-run).
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

WD_USEC=600000 # a ping every 0.3 s
start_redis
stop "$REDIS_PID" # Redis is down from here until the programs run
INTAKE_PORT=$(free_port)
I="http://127.0.0.1:$INTAKE_PORT"

# listen NAME: a notify socket $TMP/NAME.sock, its datagrams in $TMP/NAME.notify
listen() {
    start_bg "n_$1" "$TMP/n_$1.log" "$PY" "$HERE/notify_listen.py" "$TMP/$1.sock" "$TMP/$1.notify"
    wait_until 10 "grep -q LISTENING=1 '$TMP/$1.notify' 2>/dev/null" || die "no listener for $1"
}
# under NAME CMD...: CMD with NAME's socket and the watchdog
under() {
    local name=$1
    shift
    start_bg "$name" "$TMP/$name.log" env NOTIFY_SOCKET="$TMP/$name.sock" WATCHDOG_USEC=$WD_USEC "$@"
}
count() { grep -c "^[0-9]* $2\$" "$TMP/$1.notify"; }
first_ms() { grep -m1 "^[0-9]* $2" "$TMP/$1.notify" | cut -d' ' -f1; }

NAMES="w1 s1 s2 intake"
for n in $NAMES; do listen "$n"; done
under w1 "$SLUICE_BIN/sluice-worker" --id "w1-$$" --queues "$Q" --concurrency 4
under s1 "$SLUICE_BIN/sluice-scheduler" --id "s1-$$" --lock-ttl-ms 1500
under s2 "$SLUICE_BIN/sluice-scheduler" --id "s2-$$" --lock-ttl-ms 1500
under intake "$SLUICE_BIN/sluice-producer" serve --no-auth --listen "127.0.0.1:$INTAKE_PORT"

# Redis down: the loops turn (pings come) but nobody says READY
for n in $NAMES; do
    wait_until 10 "[ \$(count $n WATCHDOG=1) -ge 3 ]" || fail "$n: no WATCHDOG=1 while Redis is down"
done
for n in $NAMES; do
    assert_eq 0 "$(count $n READY=1)" "$n: READY=1 while Redis is down"
done
redis_up_ms=$(now_ms)
_redis_launch || die "redis-server does not start again on port $REDIS_PORT"
say "# redis up after $(count w1 WATCHDOG=1) pings of w1"
for n in $NAMES; do
    wait_until 20 "[ \$(count $n READY=1) -ge 1 ]" || fail "$n: no READY=1 20 s after Redis came up"
    ready=$(first_ms $n READY=1)
    [ -n "$ready" ] && [ "$ready" -ge "$redis_up_ms" ] && ok "$n: READY=1 after Redis came up" ||
        fail "$n: READY=1 at ${ready:-never}, Redis up at $redis_up_ms"
done

# the watchdog keeps coming once ready
for n in $NAMES; do
    c0=$(count $n WATCHDOG=1)
    wait_until 10 "[ \$(count $n WATCHDOG=1) -ge $((c0 + 5)) ]" &&
        ok "$n: WATCHDOG=1 goes on" || fail "$n: WATCHDOG=1 stopped at $c0"
done

# STATUS with load. The worker: 4 slots, 8 jobs of 5 s.
wait_until 10 "grep -q 'STATUS=jobs 0/4 in flight.*; queues $Q; redis up' '$TMP/w1.notify'" &&
    ok "w1: STATUS idle" || fail "w1: no idle STATUS: $(grep STATUS "$TMP/w1.notify" | tail -1)"
for i in 1 2 3 4 5 6 7 8; do
    echo "{\"type\":\"sleep\",\"queue\":\"$Q\",\"payload\":{\"ms\":5000}}"
done >"$TMP/jobs.ndjson"
producer enqueue --ndjson "$TMP/jobs.ndjson" >/dev/null || die "enqueue failed" # all at once
wait_until 10 "grep -q 'STATUS=jobs 4/4 in flight' '$TMP/w1.notify'" &&
    ok "w1: STATUS shows 4/4 jobs in flight" ||
    fail "w1: STATUS never 4/4: $(grep STATUS "$TMP/w1.notify" | tail -1)"

# The schedulers: one leads, the other stands by.
wait_until 10 "grep -q 'STATUS=leader;' '$TMP/s1.notify' '$TMP/s2.notify'" ||
    fail "no scheduler says leader"
if grep -q 'STATUS=leader;' "$TMP/s1.notify"; then lead=s1 other=s2; else lead=s2 other=s1; fi
wait_until 10 "tail -1 <(grep STATUS= '$TMP/$other.notify') | grep -q 'STATUS=follower (standby)'" &&
    ok "$lead: leader, $other: follower (standby)" ||
    fail "$other: last STATUS $(grep STATUS "$TMP/$other.notify" | tail -1)"

# The intake: requests held by ?wait on a job that will not end soon.
wait_until 10 "grep -q 'STATUS=requests 0 open, 0 waiting; redis up' '$TMP/intake.notify'" &&
    ok "intake: STATUS idle" || fail "intake: no idle STATUS: $(grep STATUS "$TMP/intake.notify" | tail -1)"
id=$(enqueue --queue other --type noop --delay-ms 600000) || die "enqueue failed"
for i in 1 2 3; do
    curl -s -o /dev/null "$I/v1/jobs/$id?queue=other&wait=30" &
    ALL_PIDS+=("$!")
done
wait_until 10 "grep -q 'STATUS=requests 3 open, 3 waiting; redis up' '$TMP/intake.notify'" &&
    ok "intake: STATUS shows 3 requests open and waiting" ||
    fail "intake: last STATUS $(grep STATUS "$TMP/intake.notify" | tail -1)"

# SIGTERM: STOPPING=1, and a clean exit; the worker drains its jobs with the
# watchdog still going.
stop "$(pid_of w1)" 20
assert_eq 0 "$STOP_STATUS" "w1 exit status"
stopping=$(first_ms w1 STOPPING=1)
[ -n "$stopping" ] && ok "w1: STOPPING=1 on SIGTERM" || fail "w1: no STOPPING=1"
grep -q 'STATUS=draining: jobs [1-4]/4 in flight' "$TMP/w1.notify" &&
    ok "w1: STATUS says draining with jobs in flight" || fail "w1: no draining STATUS"
after=$(awk -v t="${stopping:-0}" '$2 == "WATCHDOG=1" && $1 > t' "$TMP/w1.notify" | grep -c .)
[ "$after" -ge 1 ] && ok "w1: WATCHDOG=1 during the drain ($after)" || fail "w1: no WATCHDOG=1 while draining"
for n in s1 s2 intake; do
    stop "$(pid_of $n)" 15
    assert_eq 0 "$STOP_STATUS" "$n exit status"
    [ "$(count $n STOPPING=1)" = 1 ] && ok "$n: STOPPING=1 on SIGTERM" || fail "$n: no STOPPING=1"
done
for n in $NAMES; do
    dup=$(grep -o 'STATUS=.*' "$TMP/$n.notify" | uniq -d | head -1)
    [ -z "$dup" ] && ok "$n: no STATUS sent twice in a row" || fail "$n: STATUS repeated: $dup"
done

# A real systemd, when there is one to ask.
if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null && [ "$(id -u)" = 0 ]; then
    unit="sluice-t-sd-notify-$$"
    systemd-run --unit="$unit" -p Type=notify -p WatchdogSec=2 -p TimeoutStartSec=20 \
        -E SLUICE_REDIS_URL="$SLUICE_REDIS_URL" -E SLUICE_PREFIX="$SLUICE_PREFIX" \
        "$SLUICE_BIN/sluice-worker" --queues "$Q" >/dev/null 2>&1 &&
        ok "systemd-run: a Type=notify unit came up (systemd got READY=1)" ||
        fail "systemd-run: the unit did not start: $(systemctl status "$unit" 2>&1 | tail -5)"
    st=$(systemctl show -p StatusText --value "$unit")
    assert_contains "$st" "in flight" "systemd's StatusText of the unit"
    systemctl stop "$unit"
    systemctl reset-failed "$unit" 2>/dev/null || true
else
    say "# skipped: a real Type=notify unit (no systemd running as PID 1 here)"
fi

for n in $NAMES; do stop "$(pid_of n_$n)"; done
assert_nothing_running
finish
