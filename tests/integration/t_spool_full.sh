# t_spool_full: a spool at its --spool-max-mb limit. With Redis down, a
# bulk load larger than the spool stops with a clear error naming the
# option and the limit and exits non-zero; stdout lists exactly the jobs
# that were spooled, and the spool holds exactly those, whole. Without
# --spool, Redis down is still an error with nothing printed. Once Redis is
# back the spooled jobs arrive, and only they.
. "$(dirname "$0")/lib.sh"

start_redis
stop "$REDIS_PID" 15 # down for the first part
SPOOL=$TMP/spool.db
spool_json() { "$SLUICE_BIN/sluice-ctl" spool "$SPOOL" --json --limit 100000; }

# ~2 KB a job: 1500 of them do not fit in 1 MB
"$PY" -c '
pad = "x" * 2000
for i in range(1, 1501):
    print("{\"type\":\"noop\",\"queue\":\"q\",\"payload\":{\"m\":%d,\"pad\":\"%s\"}}" % (i, pad))' \
    >"$TMP/jobs"

rc=0
producer --ndjson "$TMP/jobs" >"$TMP/nospool.ids" 2>"$TMP/nospool.err" || rc=$?
assert_eq 2 "$rc" "exit status without --spool, redis down"
assert_eq 0 "$(grep -c . "$TMP/nospool.ids")" "ids printed without --spool"
assert_contains "$(cat "$TMP/nospool.err")" "cannot connect" "the error without --spool"

rc=0
producer --ndjson "$TMP/jobs" --spool "$SPOOL" --spool-max-mb 1 >"$TMP/ids" 2>"$TMP/err" || rc=$?
cat "$TMP/err"
assert_eq 2 "$rc" "exit status when the spool is full"
assert_contains "$(cat "$TMP/err")" "--spool-max-mb 1" "the error names the option and its value"
assert_contains "$(cat "$TMP/err")" "1048576 bytes" "the error names the limit"
assert_contains "$(cat "$TMP/err")" "is full" "the error says full"
assert_contains "$(cat "$TMP/err")" "not stored: line" "the error says which lines were not stored"
printed=$(grep -c . "$TMP/ids")
spooled=$(spool_json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["jobs"])')
[ "$printed" -gt 300 ] && [ "$printed" -lt 1500 ] && ok "$printed of 1500 spooled before full" ||
    fail "$printed ids printed: expected the spool to fill part-way"
assert_eq "$printed" "$spooled" "ids printed = jobs in the spool"
spool_json | "$PY" -c 'import json,sys; [print(j["id"]) for j in json.load(sys.stdin)["waiting"]]' |
    sort >"$TMP/spool.ids"
assert_eq 0 "$(sort "$TMP/ids" | comm -3 - "$TMP/spool.ids" | grep -c .)" "ids printed but not spooled, or spooled but not printed"
line=$(sed -n "s/.*not stored: lines* \([0-9]*\).*/\1/p" "$TMP/err")
assert_eq "$((printed + 1))" "$line" "the first line not stored follows the last spooled"
bytes=$(spool_json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["bytes"])')
assert_le "$bytes" 1048576 "bytes in the spool"

# one job more: refused whole, nothing printed
rc=0
out=$(producer --type noop --queue "$Q" --payload "{\"pad\":\"$(printf 'y%.0s' $(seq 1 3000))\"}" \
    --spool "$SPOOL" --spool-max-mb 1 2>"$TMP/one.err") || rc=$?
assert_eq 2 "$rc" "exit status of one job into the full spool"
assert_eq "" "$out" "stdout of one job into the full spool"
assert_contains "$(cat "$TMP/one.err")" "--spool-max-mb 1" "its error names the option"
assert_eq "$spooled" "$(spool_json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["jobs"])')" "jobs in the spool after the refused job"

# Redis back: the next run sends the spool first, then its own job
_redis_launch || die "redis-server does not restart"
id=$(enqueue --type noop --queue "$Q" --payload '{"m":0}' --spool "$SPOOL") || fail "enqueue with redis back"
assert_contains "$(tail -3 "$TMP/producer.log")" "flushed $spooled spooled jobs" "the run flushed the spool first"
assert_eq "$((spooled + 1))" "$(ready_total)" "jobs in ready"
assert_eq "$id" "$(rcli lindex "$(k ready:normal)" -1)" "the run's own job comes after the spooled ones"
rcli lrange "$(k ready:normal)" 0 -2 | sort >"$TMP/ready"
assert_eq 0 "$(comm -3 "$TMP/ready" "$TMP/spool.ids" | grep -c .)" "ready holds exactly the spooled jobs"
assert_eq 0 "$(spool_json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["jobs"])')" "jobs left in the spool"

assert_nothing_running
finish
