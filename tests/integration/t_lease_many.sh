# t_lease_many: 5,000 jobs running at once on one queue keep their leases.
# One renew.lua call carries every running job of a queue (id and token),
# and Lua's unpack takes at most 8,000 values: a worker with more than
# 4,000 jobs of a queue running had every renew refused, silently, so the
# scheduler took the jobs back while they ran and they ran twice. Here a
# worker runs 5,000 sleep jobs of 2.5 s with leases of 900 ms (renewed
# every 300 ms) beside a scheduler that reclaims expired leases: every job
# starts once, none is reclaimed, no lease is lost. Then renew.lua,
# ack.lua and fail.lua are each called with 10,000 jobs at once (acks and
# failures of one loop turn share a call).
. "$(dirname "$0")/lib.sh"

N=5000
start_redis
start_scheduler s1
wait_until 10 'grep -q "leader now" "$(log_of s1)"' || die "scheduler did not become leader"
"$PY" -c "
import json
for i in range($N): print(json.dumps({'type': 'sleep', 'queue': '$Q', 'payload': {'ms': 2500}}))" >"$TMP/jobs.ndjson"
producer --ndjson "$TMP/jobs.ndjson" >/dev/null || die "enqueue failed"
start_worker w1 --queues "$Q" --concurrency "$N" --batch 1000 --lease-ms 900 \
    --latency-log "$TMP/starts.log"
wait_until 60 "[ \"\$(stat_of processed)\" = $N ]" ||
    fail "processed $(stat_of processed) of $N after 60 s"
stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status"
stop "$(pid_of s1)"

assert_eq "$N" "$(grep -c . "$TMP/starts.log")" "runs started (one per job)"
assert_eq "$N" "$(cut -d' ' -f1 "$TMP/starts.log" | sort -u | grep -c .)" "distinct jobs started"
assert_eq 0 "$(stat_of stale | sed 's/^$/0/')" "renewals refused as stale"
assert_not_contains "$(cat "$(log_of w1)")" "leases lost" "no lease lost"
assert_not_contains "$(cat "$(log_of w1)")" "renew" "no renew error logged"
assert_eq 0 "$(zcard active)" "nothing left active"

# the scripts themselves with 10,000 jobs a call (renew, ack, fail)
if out=$("$PY" "$(dirname "$0")/lease_many_scripts.py" "$REDIS_PORT" \
    "$(dirname "$0")/../../shared/scripts" 10000 2>&1); then
    ok "renew, ack and fail take 10,000 jobs a call: $(tr '\n' ';' <<<"$out")"
else
    fail "a script with 10,000 jobs a call: $out"
fi
assert_nothing_running
finish
