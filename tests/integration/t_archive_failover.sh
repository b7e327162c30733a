# t_archive_failover: kill -9 of the leading scheduler while it archives.
# Two schedulers share one archive file; many thousand job ends wait in
# the events stream; the leader is killed mid-way; the other takes over,
# first the entries the dead one had read and not acknowledged, then the
# rest. Every end is in the archive exactly once, and the rollups add up
# to the stats counters exactly.
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null || die "sqlite3 (the CLI) is needed: make deps installs it"
DB=$TMP/archive.db
q() { sqlite3 -bail "$DB" "$1" 2>/dev/null; }
rows() { q "SELECT count(*) FROM job_ends" || echo 0; }

N=12000 BAD=300
start_redis
# the ends first, with no scheduler: they wait in the stream
start_worker w1 --queues "$Q" --concurrency 5 --batch 5
wait_until 10 '[ "$(rcli zcard "$SLUICE_PREFIX:workers")" -ge 1 ]' || die "worker did not register"
{
    for i in $(seq 1 $N); do echo "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{}}"; done
    for i in $(seq 1 $BAD); do
        echo "{\"type\":\"fail\",\"queue\":\"$Q\",\"payload\":{\"permanent\":true}}"
    done
} >"$TMP/jobs.ndjson"
producer enqueue --ndjson "$TMP/jobs.ndjson" >"$TMP/ids" || die "bulk enqueue failed"
wait_until 60 '[ "$(zcard done)" -ge $N ] && [ "$(zcard dead)" -ge $BAD ]' ||
    die "done=$(zcard done) dead=$(zcard dead) after 60 s"
entries=$(rcli xlen "$SLUICE_PREFIX:events")
say "# $((N + BAD)) ends in $entries stream entries"

# small batches, so that the leader is still at it when it is killed
start_scheduler s1 --lock-ttl-ms 1000 --archive "$DB" --history all --archive-batch 1
wait_until 10 'grep -q "leader now" "$(log_of s1)"' || die "s1 did not become leader"
start_scheduler s2 --lock-ttl-ms 1000 --archive "$DB" --history all --archive-batch 1
wait_until 30 '[ "$(rows)" -ge 200 ]' || die "s1 archived nothing in 30 s"
kill -KILL "$(pid_of s1)"
at_kill=$(rows)
pending=$(rcli xpending "$SLUICE_PREFIX:events" archive | head -1)
say "# SIGKILL to s1 with $at_kill rows archived, $pending entries pending"
reap "$(pid_of s1)"
[ "$at_kill" -lt $((N + BAD)) ] && ok "s1 killed mid-archive ($at_kill of $((N + BAD)) ends)" ||
    fail "s1 archived everything before the kill: the test proves nothing"

wait_until 20 'grep -q "leader now" "$(log_of s2)"' || die "s2 did not take over"
wait_until 90 '[ "$(rows)" -ge $((N + BAD)) ]' ||
    fail "rows=$(rows) after 90 s, expected $((N + BAD))"
wait_until 10 '[ "$(rcli xpending "$SLUICE_PREFIX:events" archive | head -1)" = 0 ]' ||
    fail "entries still pending: $(rcli xpending "$SLUICE_PREFIX:events" archive | head -1)"

assert_eq $((N + BAD)) "$(rows)" "rows in job_ends"
assert_eq 0 "$(q 'SELECT count(*) FROM (SELECT 1 FROM job_ends GROUP BY job_id, outcome HAVING count(*) > 1)')" \
    "ends written twice"
sort "$TMP/ids" >"$TMP/ids.sorted"
q "SELECT job_id FROM job_ends ORDER BY job_id" | sort >"$TMP/rows"
cmp -s "$TMP/ids.sorted" "$TMP/rows" && ok "one row for each job enqueued" ||
    fail "rows differ from the enqueued ids: $(comm -3 "$TMP/ids.sorted" "$TMP/rows" | head -3 | tr '\n' ' ')"
assert_eq "$N" "$(q "SELECT count(*) FROM job_ends WHERE outcome = 'done'")" "done rows"
assert_eq "$BAD" "$(q "SELECT count(*) FROM job_ends WHERE outcome = 'dead'")" "dead rows"
assert_eq "$(stat_of processed)" "$(q 'SELECT sum(done) FROM rollups')" "rollup done = stats processed"
assert_eq "$(stat_of dead)" "$(q 'SELECT sum(dead) FROM rollups')" "rollup dead = stats dead"
assert_eq "$entries" "$(q 'SELECT count(*) FROM applied')" "stream entries applied, each once"
grep -q "skipped entries already archived" "$(log_of s2)" &&
    say "# s2 skipped entries s1 had committed but not acknowledged" ||
    say "# s1 died between batches: nothing to skip this time"

# the worst case on purpose: every entry delivered again (as if each
# commit had been followed by a crash before its XACK) writes nothing twice
rcli xgroup setid "$SLUICE_PREFIX:events" archive 0 >/dev/null
wait_until 30 'grep -q "skipped entries already archived" "$(log_of s2)" &&
    [ "$(rcli xpending "$SLUICE_PREFIX:events" archive | head -1)" = 0 ] &&
    [ "$(rcli xinfo groups "$SLUICE_PREFIX:events" | sed -n "/^lag$/{n;p}")" = 0 ]' ||
    fail "the entries delivered again were not all read in 30 s"
assert_eq $((N + BAD)) "$(rows)" "rows after every entry was delivered again"
assert_eq "$(stat_of processed)" "$(q 'SELECT sum(done) FROM rollups')" \
    "rollup done after every entry was delivered again"

stop "$(pid_of s2)"
assert_eq 0 "$STOP_STATUS" "s2 exit status"
stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status"
assert_nothing_running
finish
