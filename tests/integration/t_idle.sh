# t_idle: an idle worker costs Redis almost nothing (no busy polling), yet a
# job enqueued while it idles starts at once (a pub/sub wake-up, not a
# timer).
. "$(dirname "$0")/lib.sh"

start_redis
start_worker w1 --queues "$Q" --latency-log "$TMP/latency.log"
wait_until 10 '[ "$(rcli zcard "$SLUICE_PREFIX:workers")" -ge 1 ]' || die "worker did not register"
# something has run, so the worker is past its start-up claims
id=$(enqueue --type noop --queue "$Q" --payload '{}') || die "enqueue failed"
wait_until 10 '[ -n "$(rcli zscore "$(k done)" "$id")" ]' || die "first job not done"

# Every command from a client connection (commands a script runs show as
# "[0 lua]" and are not round trips) over 3 idle seconds.
timeout 3 stdbuf -oL redis-cli -p "$REDIS_PORT" monitor >"$TMP/monitor.out" 2>&1
grep -E '^[0-9.]+ \[[0-9]+ [0-9.]+:[0-9]+\]' "$TMP/monitor.out" >"$TMP/monitor.clients" || true
n=$(grep -c . "$TMP/monitor.clients")
say "# commands from the idle worker in 3 s: $n"
sed 's/^/#   /' "$TMP/monitor.clients" | cut -c1-150 | head -n 20
assert_le "$n" 15 "commands sent in 3 idle seconds (about 5/s at most)"
grep -q '^OK' "$TMP/monitor.out" || fail "MONITOR did not run: $(head -c 300 "$TMP/monitor.out")"

# Jobs enqueued while idle start on the pub/sub wake-up, not on the safety
# claim every 2 s: each within 1 s of its creation (created_ms is stamped by
# the producer just before its Redis call; ~1 ms on a quiet machine), which
# three jobs waiting for a 2 s timer would not all be.
for i in 1 2 3; do
    t0=$(now_us)
    id=$(enqueue --type noop --queue "$Q" --payload "{\"i\":$i}") || die "enqueue failed"
    wait_until 10 '[ -n "$(rcli zscore "$(k done)" "$id")" ]' || fail "job $i not done after 10 s"
    eval "id_$i=$id t0_$i=$t0"
done
stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status"

for i in 1 2 3; do
    eval "id=\$id_$i t0=\$t0_$i"
    start=$(awk -v id="$id" '$1 == id { print $2; exit }' "$TMP/latency.log")
    created=$(json_get "$(job_body "$id")" created_ms)
    [ -n "$start" ] || { fail "job $i has no start in the latency log"; continue; }
    [ -n "$created" ] || { fail "job $i has no created_ms"; continue; }
    say "# job $i started $(( start / 1000 - created )) ms after created_ms, $(( (start - t0) / 1000 )) ms after the producer was launched"
    assert_le $(( start / 1000 - created )) 999 "job $i enqueued while idle started on the wake-up"
done

assert_nothing_running
finish
