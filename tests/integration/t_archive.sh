# t_archive: every job end of a mixed load (done, retried then done, dead
# after retries, dead at once, cancelled) reaches the SQLite archive once,
# with its outcome, attempts and timings, and the per-minute rollups add up
# to the queue's stats counters.
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null || die "sqlite3 (the CLI) is needed: make deps installs it"
DB=$TMP/archive.db
q() { sqlite3 -bail "$DB" "$1"; }

start_redis
MPORT=$(free_port)
start_scheduler s1 --reap-ms 200 --archive "$DB" --history all --metrics-listen "127.0.0.1:$MPORT"
start_worker w1 --queues "$Q" --concurrency 20 --backoff-base-ms 20 --backoff-max-ms 50
wait_until 10 'grep -q "leader now" "$(log_of s1)"' || die "scheduler did not become leader"
wait_until 10 '[ "$(rcli zcard "$SLUICE_PREFIX:workers")" -ge 1 ]' || die "worker did not register"

NOOP=300 RETRY=40 DEADNOW=20 DEADLATE=10 CANCEL=15
{
    for i in $(seq 1 $NOOP); do echo "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{}}"; done
    for i in $(seq 1 $RETRY); do
        echo "{\"type\":\"fail\",\"queue\":\"$Q\",\"payload\":{\"times\":1}}"
    done
    for i in $(seq 1 $DEADNOW); do
        echo "{\"type\":\"fail\",\"queue\":\"$Q\",\"payload\":{\"permanent\":true}}"
    done
    for i in $(seq 1 $DEADLATE); do
        echo "{\"type\":\"fail\",\"queue\":\"$Q\",\"max_attempts\":2,\"payload\":{\"times\":5}}"
    done
} >"$TMP/jobs.ndjson"
producer enqueue --ndjson "$TMP/jobs.ndjson" >"$TMP/ids" || die "bulk enqueue failed"
for i in $(seq 1 $CANCEL); do
    enqueue --type noop --queue "$Q" --delay-ms 600000 --payload '{}'
done >"$TMP/cancel.ids" || die "delayed enqueue failed"
while read -r id; do
    "$SLUICE_BIN/sluice-ctl" cancel "$id" >/dev/null || fail "cancel $id"
done <"$TMP/cancel.ids"

DONE=$((NOOP + RETRY)) DEAD=$((DEADNOW + DEADLATE))
wait_until 60 '[ "$(zcard done)" -ge $DONE ] && [ "$(zcard dead)" -ge $((DEAD + CANCEL)) ]' ||
    die "done=$(zcard done) dead=$(zcard dead) after 60 s, expected $DONE and $((DEAD + CANCEL))"
ENDS=$((DONE + RETRY + DEADLATE + DEAD + CANCEL))
wait_until 20 '[ "$(q "SELECT count(*) FROM job_ends" 2>/dev/null || echo 0)" -ge $ENDS ]' ||
    fail "archive rows=$(q 'SELECT count(*) FROM job_ends') after 20 s, expected $ENDS"
sleep 1 # anything more would be a double write

assert_eq $ENDS "$(q 'SELECT count(*) FROM job_ends')" "rows in job_ends"
assert_eq "$DONE" "$(q "SELECT count(*) FROM job_ends WHERE outcome='done'")" "done rows"
assert_eq $((RETRY + DEADLATE)) "$(q "SELECT count(*) FROM job_ends WHERE outcome='retried'")" \
    "retried rows (one per failed attempt that was retried)"
assert_eq "$DEAD" "$(q "SELECT count(*) FROM job_ends WHERE outcome='dead'")" "dead rows"
assert_eq "$CANCEL" "$(q "SELECT count(*) FROM job_ends WHERE outcome='cancelled'")" "cancelled rows"
assert_eq 0 "$(q 'SELECT count(*) FROM (SELECT 1 FROM job_ends GROUP BY job_id, outcome, attempts HAVING count(*) > 1)')" \
    "ends written twice"
# every job enqueued has its final row: done, dead or cancelled
cat "$TMP/ids" "$TMP/cancel.ids" | sort >"$TMP/all.ids"
q "SELECT job_id FROM job_ends WHERE outcome IN ('done','dead','cancelled') ORDER BY job_id" | sort >"$TMP/final.ids"
cmp -s "$TMP/all.ids" "$TMP/final.ids" && ok "each job has exactly one final row" ||
    fail "final rows differ from the enqueued ids: $(comm -3 "$TMP/all.ids" "$TMP/final.ids" | head -3 | tr '\n' ' ')"

# outcomes and attempts: a job retried once then done has a retried row
# (attempts 1) and a done row (attempts 1); a job dead after 2 runs a
# retried row (1) and a dead row (2)
assert_eq "$RETRY" "$(q "SELECT count(*) FROM job_ends d JOIN job_ends r ON r.job_id = d.job_id AND r.outcome = 'retried' WHERE d.outcome = 'done' AND d.attempts = 1 AND r.attempts = 1")" \
    "retried-then-done jobs: retried at attempt 1, done with attempts 1"
assert_eq "$DEADLATE" "$(q "SELECT count(*) FROM job_ends WHERE outcome = 'dead' AND attempts = 2")" \
    "dead after their 2 attempts"
assert_eq 0 "$(q "SELECT count(*) FROM job_ends WHERE outcome <> 'done' AND (error IS NULL OR error = '')")" \
    "failure rows without an error"
assert_eq "$CANCEL" "$(q "SELECT count(*) FROM job_ends WHERE outcome = 'cancelled' AND error LIKE 'cancelled%'")" \
    "cancelled rows say why"
# timings: Redis time, enqueued <= started <= finished, wait and run from them
assert_eq 0 "$(q "SELECT count(*) FROM job_ends WHERE outcome IN ('done','retried') AND (started_ms IS NULL OR enqueued_ms IS NULL OR run_ms IS NULL OR wait_ms IS NULL)")" \
    "runs without timings"
assert_eq 0 "$(q "SELECT count(*) FROM job_ends WHERE started_ms IS NOT NULL AND (finished_ms < started_ms OR run_ms <> finished_ms - started_ms OR wait_ms < 0 OR started_ms < enqueued_ms - 5)")" \
    "rows whose timings do not add up"

# rollups: the sums equal the stats hash counters
wait_until 10 '[ "$(q "SELECT sum(done) FROM rollups")" = "$(stat_of processed)" ]' || true
assert_eq "$(stat_of processed)" "$(q 'SELECT sum(done) FROM rollups')" "rollup done = stats processed"
assert_eq "$(stat_of dead)" "$(q 'SELECT sum(dead) FROM rollups')" "rollup dead = stats dead"
assert_eq "$(stat_of retried)" "$(q 'SELECT sum(retried) FROM rollups')" "rollup retried = stats retried"
assert_eq "$(stat_of cancelled)" "$(q 'SELECT sum(cancelled) FROM rollups')" "rollup cancelled = stats cancelled"
assert_eq 0 "$(q "SELECT count(*) FROM rollups WHERE done > 0 AND (run_p50_ms IS NULL OR run_p99_ms < run_p50_ms OR wait_p99_ms < wait_p50_ms)")" \
    "rollups with done jobs and no (or unordered) percentiles"
# the archiver acknowledged what it wrote: nothing pending, nothing left
wait_until 5 '[ "$(rcli xpending "$SLUICE_PREFIX:events" archive | head -1)" = 0 ]' ||
    fail "entries pending in the archive group: $(rcli xpending "$SLUICE_PREFIX:events" archive | head -1)"
q "PRAGMA journal_mode" | grep -qx wal && ok "archive in WAL mode" || fail "archive not in WAL mode"

# the scheduler's /metrics (contract 3): what it archived, the stream's cap and lag
metric() { curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
wait_until 5 '[ "$(metric sluice_archive_lag_events)" = 0 ]' || true
assert_eq "$ENDS" "$(metric sluice_archive_written_total)" "sluice_archive_written_total"
assert_eq 10000 "$(metric sluice_events_cap)" "sluice_events_cap"
assert_eq 0 "$(metric sluice_archive_lag_events)" "sluice_archive_lag_events"
assert_eq "$(rcli xlen "$SLUICE_PREFIX:events")" "$(metric sluice_events_length)" "sluice_events_length"

# sluice-ctl reads the same file: history and metrics
ctl() { "$SLUICE_BIN/sluice-ctl" "$@"; }
assert_eq $((RETRY + DEADLATE + DEAD + CANCEL)) \
    "$(ctl history --archive "$DB" --failed --limit 1000 --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["ends"]))')" \
    "history --failed: every failure"
assert_eq "$DEADNOW" \
    "$(ctl history --archive "$DB" --queue "$Q" --type fail --since 1h --limit 1000 --json | $PY -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin)["ends"] if e["outcome"] == "dead" and e["attempts"] == 1))')" \
    "history --type fail: the jobs dead at once"
out=$(SLUICE_ARCHIVE=$DB ctl history --queue "$Q" --limit 5)
assert_contains "$out" "FINISHED" "history prints a table"
assert_eq "$(stat_of processed)" \
    "$(ctl metrics --archive "$DB" --since 1h --json | $PY -c 'import json,sys; print(sum(r["done"] for r in json.load(sys.stdin)["rollups"]))')" \
    "metrics: done over the last hour = stats processed"
out=$(SLUICE_ARCHIVE=$DB ctl metrics --queue "$Q")
assert_contains "$out" "RUN_P99" "metrics prints a table"
out=$(ctl history --archive "$TMP/nosuch.db" 2>&1)
assert_eq 2 "$?" "history with a missing file: exit status"
assert_contains "$out" "--archive $TMP/nosuch.db: no such file" "history names the option and the file"
out=$(env -u SLUICE_ARCHIVE "$SLUICE_BIN/sluice-ctl" metrics 2>&1)
assert_contains "$out" "--archive PATH (or SLUICE_ARCHIVE) is needed" "metrics without an archive says what to give"

stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status"
stop "$(pid_of s1)"
assert_eq 0 "$STOP_STATUS" "scheduler exit status"
assert_nothing_running
finish
