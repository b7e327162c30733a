# t_result_channel: completion is published once per job on
# PREFIX:{Q}:finished, so a subscriber learns every outcome without polling.
# 200 jobs: 150 noop, 10 Discord messages (with a result), 15 that fail once
# and then succeed, 25 that fail for good; then one cancelled and one
# reclaimed as dead after its worker was killed. A subscriber sees exactly
# one line per job that ended, none for a retry: {"id","state":"done"} (with
# "result" equal to the stored one for the messages, none for the rest) or
# {"id","state":"dead","last_error"}; lines come batched, several per message.
# The worker runs one job before anyone subscribes, so its first ack after
# the subscriber came has the script make the lines (the worker makes them
# only while the channel is heard), the rest carry lines made by the worker.
. "$(dirname "$0")/lib.sh"

DTOKEN="channel-$$-discord"
start_redis
start_fake fake --discord-token "$DTOKEN" --global-limit 0 --bucket-limit 0
use_discord_fake "$DTOKEN"
CH="$SLUICE_PREFIX:{$Q}:finished"
start_scheduler s1 --reap-ms 100
start_worker w1 --queues "$Q" --concurrency 300 --backoff-base-ms 50 --backoff-max-ms 100
enqueue --type noop --queue "$Q" --payload '{}' >/dev/null || die "enqueue"
wait_until 10 '[ "$(zcard done)" = 1 ]' || die "the first job is not done"
"$PY" "$(dirname "$0")/subscribe.py" "$REDIS_PORT" "$CH" "$TMP/lines.jsonl" "$TMP/ready" &
SUB=$!
ALL_PIDS+=("$SUB")
wait_until 10 '[ -e "$TMP/ready" ]' || die "the subscriber did not subscribe"

"$PY" -c '
import json, sys
q = sys.argv[1]
for i in range(150):
    print(json.dumps({"type": "noop", "queue": q, "payload": {}}))
for i in range(10):
    print(json.dumps({"type": "message", "queue": q, "payload": {"platform": "discord",
        "channel_id": str(9000 + i), "content": "m%d" % i}}))
for i in range(15):
    print(json.dumps({"type": "fail", "queue": q, "max_attempts": 3, "payload": {"times": 1}}))
for i in range(25):
    print(json.dumps({"type": "fail", "queue": q, "payload": {"permanent": True}}))
' "$Q" >"$TMP/jobs.ndjson"
producer enqueue --ndjson "$TMP/jobs.ndjson" >"$TMP/ids" || die "enqueue failed"
assert_eq 200 "$(sort -u "$TMP/ids" | grep -c .)" "ids"

wait_until 30 '[ "$(zcard done)" -ge 176 ] && [ "$(zcard dead)" -ge 25 ]' ||
    fail "done=$(zcard done) dead=$(zcard dead), expected 176 and 25"
stop "$(pid_of w1)"

# a cancelled job, and one reclaimed as dead from a worker killed mid-run
c1=$(enqueue --type noop --queue "$Q" --delay-ms 600000 --payload '{}') || die "enqueue"
"$SLUICE_BIN/sluice-ctl" cancel "$c1" >/dev/null || fail "sluice-ctl cancel failed"
r1=$(enqueue --type sleep --queue "$Q" --max-attempts 1 --payload '{"ms": 600000}') || die "enqueue"
start_worker wk --queues "$Q" --concurrency 1 --lease-ms 500
wait_until 10 '[ "$(zcard active)" = 1 ]' || fail "the sleep job was not claimed"
kill -KILL "$(pid_of wk)"
wait_until 5 '! alive "$(pid_of wk)"' || fail "wk survived SIGKILL"
reap "$(pid_of wk)"
wait_until 20 '[ "$(zcard dead)" -ge 27 ]' || fail "dead=$(zcard dead), expected 27"
printf '%s\n%s\n' "$c1" "$r1" >>"$TMP/ids"
wait_until 10 '[ "$(cat "$TMP/lines.jsonl" | "$PY" -c "
import json, sys
print(sum(json.loads(l)[\"data\"].count(\"\\n\") for l in sys.stdin))")" -ge 202 ]' ||
    fail "fewer than 202 lines published"
sleep 0.5 # anything more would come now

"$PY" - "$TMP/lines.jsonl" "$TMP/ids" "$SLUICE_PREFIX:{$Q}:job:" "$REDIS_PORT" "$c1" "$r1" <<'PYEOF' >"$TMP/check.out" 2>&1
import json, subprocess, sys
lines_path, ids_path, key, port, cancelled, reclaimed = sys.argv[1:7]
ids = [l.strip() for l in open(ids_path) if l.strip()]
msgs = [json.loads(l)["data"] for l in open(lines_path)]
seen, bad = {}, []
for m in msgs:
    if not m.endswith("\n"):
        bad.append("a message does not end in a newline: %r" % m[-40:])
    for line in m.split("\n")[:-1]:
        d = json.loads(line)
        seen.setdefault(d["id"], []).append(d)
print("messages", len(msgs))
print("lines", sum(len(v) for v in seen.values()))
print("ids_once", sum(1 for i in ids if len(seen.get(i, [])) == 1))
print("unknown", len([i for i in seen if i not in ids]))
print("with_result", sum(1 for v in seen.values() for d in v if "result" in d))
counts = {}
for i in ids:
    for d in seen.get(i, []):
        body = json.loads(subprocess.run(["redis-cli", "-p", port, "GET", key + i],
                                         capture_output=True, text=True).stdout)
        typ = body.get("type", "?")
        if i == cancelled:
            typ = "cancelled"
        elif i == reclaimed:
            typ = "reclaimed"
        elif typ == "fail" and body["payload"].get("times"):
            typ = "retried"
        kind = "%s %s" % (typ, d["state"])
        counts[kind] = counts.get(kind, 0) + 1
        if d["state"] == "done":
            if body.get("result") != d.get("result"):
                bad.append("%s: line result %r, stored %r" % (i, d.get("result"), body.get("result")))
            if set(d) - {"id", "state", "result"}:
                bad.append("%s: unexpected fields %s" % (i, sorted(d)))
        else:
            if d.get("last_error") != body.get("last_error") or set(d) != {"id", "state", "last_error"}:
                bad.append("%s: line %r, stored last_error %r" % (i, d, body.get("last_error")))
for k in sorted(counts):
    print("kind", k, counts[k])
for b in bad[:5]:
    print("bad", b)
print("bad_total", len(bad))
PYEOF
cat "$TMP/check.out" | sed 's/^/# /'
get() { sed -n "s/^$1 //p" "$TMP/check.out"; }
assert_eq 202 "$(get lines)" "lines published"
assert_eq 202 "$(get ids_once)" "jobs with exactly one line"
assert_eq 0 "$(get unknown)" "lines of unknown jobs"
assert_eq 150 "$(get 'kind noop done')" "noop jobs done"
assert_eq 10 "$(get 'kind message done')" "message jobs done"
assert_eq 15 "$(get 'kind retried done')" "jobs retried once, then done (no line for the retry)"
assert_eq 25 "$(get 'kind fail dead')" "jobs dead"
assert_eq 1 "$(get 'kind cancelled dead')" "cancelled job, dead"
assert_eq 1 "$(get 'kind reclaimed dead')" "job reclaimed as dead"
assert_eq 0 "$(get bad_total)" "lines that disagree with the stored job"
m=$(get messages)
[ "$m" -lt 202 ] && ok "lines batched: $m messages for 202 lines" || fail "$m messages for 202 lines"
assert_eq 10 "$(get with_result)" "lines with a result (the messages')"
stop "$SUB"
stop "$(pid_of s1)"
stop "$FAKE_PID"
assert_nothing_running
finish
