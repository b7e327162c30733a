# t_batch: batches count each job once, when it reaches done or dead, and
# their callback job is enqueued exactly once when the batch is sealed and
# every job has ended: through retries and permanent failures; through a
# worker killed with SIGKILL and the scheduler's reclaims (to ready, and to
# dead when attempts are used up); when the jobs end before the seal; through
# repeated acks, cancel and revive; and idempotent re-submissions do not
# inflate the total.
. "$(dirname "$0")/lib.sh"

CB=cb # every callback goes to this queue

# batch_get ID EXPR: the Python expression EXPR over d = `sluice-ctl batch ID --json`
batch_get() {
    "$SLUICE_BIN/sluice-ctl" batch "$1" --json 2>>"$TMP/ctl.log" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$2"
}

# in_set SET IDS_FILE [QUEUE]: how many ids of IDS_FILE the zset SET of QUEUE holds
in_set() {
    rcli zrange "$(k "$1" "${3:-$Q}")" 0 -1 | sort >"$TMP/set.sorted"
    sort "$2" | comm -12 - "$TMP/set.sorted" | grep -c .
}

# runs_of ID: starts of job ID in the latency logs of every worker (written
# out when a worker stops)
runs_of() { cat "$TMP"/lat.*.log 2>/dev/null | grep -c "^$1 "; }

# cb_done ID: callback ID is in the callback queue's done set
cb_done() { [ -n "$(rcli zscore "$(k done "$CB")" "$1")" ]; }

start_redis
start_scheduler s1 --reap-ms 200
wait_until 10 'grep -q "leader now" "$(log_of s1)"' || die "scheduler did not become leader"

# ---------------------------------------------------------------- producer errors

out=$(producer enqueue --type noop --queue "$Q" --batch 'no spaces' 2>&1) && fail "--batch 'no spaces' accepted"
assert_contains "$out" "--batch" "a bad batch id names the flag"
out=$(producer enqueue --type noop --queue "$Q" --batch b0 --batch-callback '{"type":"sleep","payload":{"ms":"x"}}' 2>&1) &&
    fail "a callback with a bad payload accepted"
assert_contains "$out" "--batch-callback: payload.ms" "a bad callback names the field"
out=$(producer enqueue --type noop --queue "$Q" --batch b0 --batch-callback '{"type":"noop","payload":{},"delay_ms":5}' 2>&1) &&
    fail "a delayed callback accepted"
assert_contains "$out" "delay_ms" "a delayed callback is refused by name"
out=$(producer enqueue --type noop --queue "$Q" --batch-callback '{"type":"noop","payload":{}}' 2>&1) &&
    fail "--batch-callback without --batch accepted"
assert_contains "$out" "needs --batch" "--batch-callback without --batch"
assert_eq 0 "$(rcli exists "$SLUICE_PREFIX:batch:{b0}")" "nothing made by the refused runs"
st=0
producer seal nosuch >/dev/null 2>&1 || st=$?
assert_eq 1 "$st" "exit status of seal of a missing batch"
st=0
"$SLUICE_BIN/sluice-ctl" batch nosuch >/dev/null 2>&1 || st=$?
assert_eq 1 "$st" "exit status of sluice-ctl batch of a missing batch"

# ---------------------------------------------------------------- 1: retries and permanent failures

start_worker w1 --queues "$Q,$CB" --concurrency 50 --backoff-base-ms 50 --latency-log "$TMP/lat.w1.log"
N=200
"$PY" -c '
import json, sys
q = sys.argv[1]
for i in range(200):
    if i % 10 == 3:
        job = {"type": "fail", "payload": {"permanent": True}}     # 20 die at once
    elif i % 10 in (5, 7) and i < 150:
        job = {"type": "fail", "payload": {"times": 2}}            # 30 retry twice, then succeed
    else:
        job = {"type": "sleep", "payload": {"ms": i % 7}}          # 150 succeed
    job["queue"] = q
    print(json.dumps(job))' "$Q" >"$TMP/b1.ndjson"
producer enqueue --ndjson "$TMP/b1.ndjson" --batch new \
    --batch-callback "{\"type\":\"noop\",\"queue\":\"$CB\",\"payload\":{\"batch\":1}}" >"$TMP/b1.out" ||
    die "bulk enqueue of batch 1 failed"
b1=$(head -n 1 "$TMP/b1.out")
tail -n +2 "$TMP/b1.out" >"$TMP/b1.ids"
assert_eq $N "$(sort -u "$TMP/b1.ids" | grep -c .)" "distinct job ids after the batch id"
wait_until 30 '[ "$(batch_get "$b1" "d[\"state\"]")" = complete ]' ||
    fail "batch 1 not complete after 30 s: $("$SLUICE_BIN/sluice-ctl" batch "$b1" --json)"
cb1=$(batch_get "$b1" 'd["callback"]["id"]')
wait_until 10 'cb_done "$cb1"' || fail "callback $cb1 of batch 1 did not run"
assert_eq "200 180 20 0 True fired" "$(batch_get "$b1" '" ".join(str(x) for x in (d["total"], d["done"], d["failed"], d["pending"], d["sealed"], d["callback"]["state"]))')" \
    "batch 1: total done failed pending sealed callback"
assert_eq 180 "$(in_set done "$TMP/b1.ids")" "batch 1 jobs in done"
assert_eq 20 "$(in_set dead "$TMP/b1.ids")" "batch 1 jobs in dead"
assert_eq 60 "$(stat_of retried)" "retries of batch 1 (a retry is not an end)"
assert_eq "$CB" "$(batch_get "$b1" 'd["callback"]["queue"]')" "callback queue"
show=$("$SLUICE_BIN/sluice-ctl" show "$(head -n 1 "$TMP/b1.ids")")
assert_contains "$show" "batch: $b1 (complete; 200 jobs: 180 done, 20 failed, 0 pending)" "sluice-ctl show names the batch"
assert_contains "$("$SLUICE_BIN/sluice-ctl" batch "$b1")" "callback: fired: job $cb1 on queue $CB" "sluice-ctl batch shows the callback"

# sealing again, or re-submitting the sealed batch's jobs, fires nothing more
out=$(producer seal "$b1") || fail "seal of a complete batch failed"
assert_contains "$out" "batch $b1 complete: 200 jobs, 180 done, 20 failed; callback job $cb1 enqueued" "seal of a complete batch"

# ---------------------------------------------------------------- 2: SIGKILL and reclaims

stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "w1 exit status"
start_worker w2 --queues "$Q,$CB" --concurrency 20 --lease-ms 1500 --latency-log "$TMP/lat.w2.log"
start_worker w3 --queues "$Q,$CB" --concurrency 20 --lease-ms 1500 --latency-log "$TMP/lat.w3.log"
N2=600
"$PY" -c '
import json, sys
for i in range(600):
    # half may run once only: a reclaim sends those to dead (counted failed)
    print(json.dumps({"type": "sleep", "queue": sys.argv[1], "payload": {"ms": 40},
                      "max_attempts": 1 if i % 2 else 3}))' "$Q" >"$TMP/b2.ndjson"
done0=$(stat_of processed)
producer enqueue --ndjson "$TMP/b2.ndjson" --batch b2 \
    --batch-callback "{\"type\":\"noop\",\"queue\":\"$CB\",\"payload\":{\"batch\":2}}" >"$TMP/b2.ids" ||
    die "bulk enqueue of batch 2 failed"
wait_until 30 '[ "$(stat_of processed)" -ge $((done0 + N2 / 3)) ]' || die "a third of batch 2 not processed after 30 s"
kill -KILL "$(pid_of w2)"
say "# SIGKILL to w2 with $(zcard active) jobs active"
wait_until 5 '! alive "$(pid_of w2)"' || fail "w2 survived SIGKILL"
reap "$(pid_of w2)"
wait_until 30 '[ "$(batch_get b2 "d[\"state\"]")" = complete ]' ||
    fail "batch 2 not complete 30 s after the kill: $("$SLUICE_BIN/sluice-ctl" batch b2 --json)"
cb2=$(batch_get b2 'd["callback"]["id"]')
wait_until 10 'cb_done "$cb2"' || fail "callback $cb2 of batch 2 did not run"
d2=$(batch_get b2 'd["done"]')
f2=$(batch_get b2 'd["failed"]')
assert_eq $N2 "$(batch_get b2 'd["total"]')" "batch 2 total"
assert_eq $N2 $((d2 + f2)) "batch 2 done + failed"
assert_eq "$d2" "$(in_set done "$TMP/b2.ids")" "batch 2 done = its jobs in done"
assert_eq "$f2" "$(in_set dead "$TMP/b2.ids")" "batch 2 failed = its jobs in dead"
[ "$f2" -ge 1 ] && ok "reclaims sent $f2 jobs of batch 2 to dead, counted as failed" ||
    fail "no job of batch 2 died in a reclaim: the kill proved nothing"
reclaimed=$(stat_of reclaimed)
[ "$reclaimed" -gt "$f2" ] && ok "jobs reclaimed to ready too ($reclaimed reclaimed in all)" ||
    fail "reclaimed=$reclaimed: none of the killed worker's jobs went back to ready"

# ---------------------------------------------------------------- 3: every job ends before the seal

stop "$(pid_of w3)"
start_worker w4 --queues "$Q,$CB" --concurrency 50 --latency-log "$TMP/lat.w4.log"
for i in $(seq 1 50); do
    echo "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{},\"idempotency_key\":\"b3-$i\"}"
done >"$TMP/b3.ndjson"
producer enqueue --ndjson "$TMP/b3.ndjson" --batch b3 --batch-open \
    --batch-callback "{\"type\":\"noop\",\"queue\":\"$CB\",\"payload\":{\"batch\":3}}" >"$TMP/b3.ids" ||
    die "bulk enqueue of batch 3 failed"
# the same lines again, open and then sealed: the ids come back, the total stays
producer enqueue --ndjson "$TMP/b3.ndjson" --batch b3 --batch-open >"$TMP/b3.again" || fail "re-submission of batch 3 failed"
cmp -s "$TMP/b3.ids" "$TMP/b3.again" && ok "re-submission gives the same ids" || fail "re-submission gave other ids"
wait_until 10 '[ "$(batch_get b3 "d[\"done\"]")" = 50 ]' || fail "batch 3 jobs not done after 10 s"
assert_eq "50 50 open pending" "$(batch_get b3 '" ".join(str(x) for x in (d["total"], d["done"], d["state"], d["callback"]["state"]))')" \
    "batch 3 before its seal: total done state callback"
cb3=$(batch_get b3 'd["callback"]["id"]')
assert_eq 0 "$(rcli exists "$(k "job:$cb3" "$CB")")" "callback body stored before the seal"
out=$(producer seal b3) || fail "seal of batch 3 failed"
assert_contains "$out" "batch b3 complete: 50 jobs, 50 done, 0 failed; callback job $cb3 enqueued" "seal of a batch whose jobs all ended"
wait_until 10 'cb_done "$cb3"' || fail "callback $cb3 of batch 3 did not run after the seal"
producer enqueue --ndjson "$TMP/b3.ndjson" --batch b3 >"$TMP/b3.again2" 2>"$TMP/b3.err" ||
    fail "re-submission of sealed batch 3 with idempotency keys failed"
cmp -s "$TMP/b3.ids" "$TMP/b3.again2" && ok "re-submission to the sealed batch gives the same ids" ||
    fail "re-submission to the sealed batch gave other ids"
assert_contains "$(cat "$TMP/b3.err")" "batch b3 is complete" "re-submission notes the batch is complete"
st=0
producer enqueue --type noop --queue "$Q" --batch b3 >/dev/null 2>"$TMP/b3.err" || st=$?
assert_eq 1 "$st" "exit status of a new job for a sealed batch"
assert_contains "$(cat "$TMP/b3.err")" "batch b3 is sealed: no more jobs can join it" "a new job for a sealed batch is refused"
producer seal b3 >/dev/null || fail "second seal of batch 3 failed"
assert_eq 50 "$(batch_get b3 'd["total"]')" "batch 3 total after every re-submission"

# ---------------------------------------------------------------- 4: cancel, revive, repeated acks

# one job runs, one waits a minute and is cancelled: cancelled counts as failed
j1=$(enqueue --type noop --queue "$Q" --batch b4 --batch-open --payload '{}') || die "enqueue failed"
j2=$(enqueue --type noop --queue "$Q" --batch b4 --batch-open --delay-ms 60000 --payload '{}') || die "enqueue failed"
out=$(producer seal b4 --batch-callback "{\"type\":\"noop\",\"queue\":\"$CB\",\"payload\":{\"batch\":4}}") ||
    fail "seal of batch 4 failed"
assert_contains "$out" "waits for them" "seal with a callback, jobs pending"
wait_until 10 '[ "$(batch_get b4 "d[\"done\"]")" = 1 ]' || fail "the first job of batch 4 not done"
"$SLUICE_BIN/sluice-ctl" cancel "$j2" >/dev/null || fail "cancel of $j2 failed"
wait_until 10 '[ "$(batch_get b4 "d[\"state\"]")" = complete ]' || fail "batch 4 not complete after the cancel"
assert_eq "2 1 1" "$(batch_get b4 '" ".join(str(d[k]) for k in ("total", "done", "failed"))')" "batch 4 after the cancel"
cb4=$(batch_get b4 'd["callback"]["id"]')
wait_until 10 'cb_done "$cb4"' || fail "callback of batch 4 did not run"
# revived, the job takes its count back and counts again when done; no second callback
"$SLUICE_BIN/sluice-ctl" retry "$j2" >/dev/null || fail "retry of $j2 failed"
wait_until 10 '[ "$(batch_get b4 "d[\"done\"]")" = 2 ]' || fail "revived job of batch 4 not counted done"
assert_eq "2 2 0" "$(batch_get b4 '" ".join(str(d[k]) for k in ("total", "done", "failed"))')" "batch 4 after the revive"

# the same ack (and a late failure) sent again count nothing twice
stop "$(pid_of w4)"
j5=$(enqueue --type noop --queue "$Q" --batch b5 --payload '{}') || die "enqueue failed"
assert_eq "$j5" "$(rcli lpop "$(k ready:normal)")" "the job of batch 5 taken by hand"
rcli zadd "$(k active)" 9999999999999 "$j5" >/dev/null
rcli hset "$(k lease)" "$j5" by-hand/1 >/dev/null
lib=$(dirname "$0")/../../shared/scripts
# (the first line of the reply: jobs moved)
ack() { rcli eval "$(cat "$lib/lib_batch.lua" "$lib/lib_many.lua" "$lib/ack.lua")" 5 "$(k active)" "$(k done)" "$(k stats)" \
    "$(k lease)" "$SLUICE_PREFIX:events" "$SLUICE_PREFIX:{$Q}:" 60000 0 3 "" "" 0 "$j5" by-hand/1 b5 | head -n 1; }
assert_eq 1 "$(ack)" "first ack of the job of batch 5"
assert_eq 0 "$(ack)" "second ack of the job of batch 5"
assert_eq 0 "$(rcli eval "$(cat "$lib/lib_batch.lua" "$lib/lib_many.lua" "$lib/fail.lua")" 10 "$(k active)" "$(k delayed)" "$(k dead)" \
    "$(k stats)" "$(k ready:critical)" "$(k ready:high)" "$(k ready:normal)" "$(k ready:low)" \
    "$(k lease)" "$SLUICE_PREFIX:events" "$SLUICE_PREFIX:{$Q}:" x 0 "$j5" by-hand/1 dead 0 2 '' b5 '' | head -n 1)" "a late failure of the acked job"
assert_eq "1 1 0 complete" "$(batch_get b5 '" ".join(str(d[k]) for k in ("total", "done", "failed", "state"))')" "batch 5"

# ---------------------------------------------------------------- every callback once

for id in "$cb1" "$cb2" "$cb3" "$cb4"; do
    assert_eq 1 "$(runs_of "$id")" "runs of callback $id"
done
assert_eq 4 "$(stat_of enqueued "$CB")" "callbacks enqueued"
assert_eq 4 "$(stat_of processed "$CB")" "callbacks processed"
ttl=$(rcli pttl "$SLUICE_PREFIX:batch:{$b1}")
[ "$ttl" -gt 0 ] && [ "$ttl" -le 86400000 ] && ok "a complete batch expires (pttl $ttl ms)" ||
    fail "complete batch pttl $ttl, expected 0 < pttl <= 86400000"

stop "$(pid_of s1)"
assert_eq 0 "$STOP_STATUS" "scheduler exit status"
assert_nothing_running
finish
