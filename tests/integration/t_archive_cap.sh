# t_archive_cap: with no archiver running, the events stream stays within
# its cap (--events-cap) however many jobs end; an archiver started later
# reports the entries trimmed before it could read them (lost to the
# archive), and archives what is left.
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null || die "sqlite3 (the CLI) is needed: make deps installs it"
DB=$TMP/archive.db
CAP=200 N=3000
start_redis
# one job per claim: one events entry per ack call, many entries
start_worker w1 --queues "$Q" --concurrency 1 --batch 1 --events-cap $CAP
wait_until 10 '[ "$(rcli zcard "$SLUICE_PREFIX:workers")" -ge 1 ]' || die "worker did not register"
for i in $(seq 1 $N); do echo "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{}}"; done >"$TMP/jobs.ndjson"
producer enqueue --ndjson "$TMP/jobs.ndjson" >/dev/null &
feeder=$!
max=0
while alive $feeder || [ "$(zcard done)" -lt $N ]; do
    len=$(rcli xlen "$SLUICE_PREFIX:events")
    [ "$len" -gt "$max" ] && max=$len
    sleep 0.1
done
wait $feeder || die "bulk enqueue failed"
added=$(rcli xinfo stream "$SLUICE_PREFIX:events" | sed -n '/^entries-added$/{n;p}')
say "# $added entries added, longest seen $max"
[ "$added" -gt $((CAP * 3)) ] && ok "many more entries added ($added) than the cap ($CAP)" ||
    fail "only $added entries added: the test proves nothing"
# MAXLEN ~ trims whole nodes of the stream (stream-node-max-entries, 100)
assert_le "$max" $((CAP + 100)) "longest the stream was"
assert_le "$(rcli xlen "$SLUICE_PREFIX:events")" $((CAP + 100)) "XLEN at the end"

start_scheduler s1 --archive "$DB" --events-cap $CAP
wait_until 10 'grep -q "leader now" "$(log_of s1)"' || die "scheduler did not become leader"
wait_until 20 'grep -q "entries lost to the archive" "$(log_of s1)"' ||
    fail "the scheduler did not report the entries trimmed before the archive read them"
lost=$(sed -n 's/.*: \([0-9]*\) entries lost to the archive.*/\1/p' "$(log_of s1)" | head -1)
left=$(rcli xlen "$SLUICE_PREFIX:events")
assert_eq "$((added - left))" "$lost" "entries reported lost (added - left in the stream)"
wait_until 20 '[ "$(sqlite3 "$DB" "SELECT count(*) FROM applied" 2>/dev/null)" = "$left" ]' ||
    fail "applied=$(sqlite3 "$DB" "SELECT count(*) FROM applied") entries, expected the $left left"
assert_eq "$(sqlite3 "$DB" "SELECT value FROM archive_meta WHERE key = 'events_cap'")" "$CAP" \
    "the cap, recorded in the archive"

stop "$(pid_of s1)"
assert_eq 0 "$STOP_STATUS" "scheduler exit status"
stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status"
assert_nothing_running
finish
