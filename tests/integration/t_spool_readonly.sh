# t_spool_readonly: a Redis that answers but refuses writes — a replica
# (READONLY, made with REPLICAOF a master that does not exist) or out of
# memory (OOM) — makes --spool keep the jobs (exit 0, ids printed, stderr
# "spooled:"); without --spool the jobs are refused as before. When Redis
# takes writes again the next run sends them first, in order, once.
. "$(dirname "$0")/lib.sh"

start_redis
SPOOL=$TMP/spool.db
spooled() { "$SLUICE_BIN/sluice-ctl" spool "$SPOOL" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["jobs"])'; }

rcli replicaof 127.0.0.1 "$(free_port)" >/dev/null
rc=0
out=$(producer --type noop --queue "$Q" --payload '{"m":1}' 2>"$TMP/err") || rc=$?
assert_eq 1 "$rc" "exit status without --spool on a replica (refused, as before)"
assert_contains "$(cat "$TMP/err")" "READONLY" "the refusal says READONLY"

id1=$(enqueue --type noop --queue "$Q" --payload '{"m":1}' --spool "$SPOOL" 2>"$TMP/err1") ||
    fail "one job with --spool on a replica"
assert_contains "$(cat "$TMP/err1")" "spooled: 1 job to $SPOOL" "stderr says spooled, and where"
assert_contains "$(cat "$TMP/err1")" "READONLY" "stderr says why"
for i in 2 3 4 5; do echo "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{\"m\":$i}}"; done |
    producer --ndjson - --spool "$SPOOL" >"$TMP/ids" || fail "bulk with --spool on a replica"
assert_eq 4 "$(grep -c . "$TMP/ids")" "ids printed by the bulk run"
assert_eq 5 "$(spooled)" "jobs in the spool"
assert_eq 0 "$(ready_total)" "jobs in ready while a replica"

# out of memory: spooled as well, behind the others
rcli replicaof no one >/dev/null
rcli config set maxmemory 1 >/dev/null
id6=$(enqueue --type noop --queue "$Q" --payload '{"m":6}' --spool "$SPOOL" 2>"$TMP/err6") ||
    fail "one job with --spool, redis out of memory"
assert_contains "$(cat "$TMP/err6")" "OOM" "stderr says OOM"
assert_eq 6 "$(spooled)" "jobs in the spool"

rcli config set maxmemory 0 >/dev/null
id7=$(enqueue --type noop --queue "$Q" --payload '{"m":7}' --spool "$SPOOL") || fail "enqueue, redis healthy"
assert_eq 0 "$(spooled)" "jobs left in the spool"
assert_eq 7 "$(ready_total)" "jobs in ready"
want=$(printf '%s\n' "$id1" $(cat "$TMP/ids") "$id6" "$id7")
assert_eq "$want" "$(rcli lrange "$(k ready:normal)" 0 -1)" "ready holds every job once, in order"

assert_nothing_running
finish
