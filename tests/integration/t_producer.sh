# t_producer: sluice-producer refuses bad jobs before anything reaches
# Redis, with a message that names the field, and the documented exit codes
# (0 all enqueued, 1 some rejected, 2 usage or Redis error); bulk NDJSON
# reports each bad line by number and enqueues the good ones, ids in order;
# a Redis address's password never appears in the output.
. "$(dirname "$0")/lib.sh"

start_redis

# run_p ARGS...: runs the producer; OUT (stdout), ERR (stderr), RC
run_p() {
    RC=0
    producer "$@" >"$TMP/p.out" 2>"$TMP/p.err" || RC=$?
    OUT=$(cat "$TMP/p.out")
    ERR=$(cat "$TMP/p.err")
}

# unknown field (NDJSON envelope, and inside a payload with a closed schema)
echo '{"type":"noop","queue":"q","payload":{},"colour":"red"}' >"$TMP/unknown.ndjson"
run_p enqueue --ndjson "$TMP/unknown.ndjson"
assert_eq 1 "$RC" "exit status, unknown envelope field"
assert_contains "$ERR" "unknown field" "message, unknown envelope field"
assert_contains "$ERR" "colour" "message names the field"
assert_eq "" "$OUT" "ids printed for a rejected line"
run_p enqueue --type sleep --queue "$Q" --payload '{"ms":1,"foo":2}'
assert_eq 1 "$RC" "exit status, unknown payload field"
assert_contains "$ERR" "unknown field" "message, unknown payload field"
assert_contains "$ERR" "foo" "message names the payload field"

# bad priority
run_p enqueue --type noop --queue "$Q" --priority urgent --payload '{}'
assert_eq 1 "$RC" "exit status, --priority urgent"
assert_contains "$ERR" "priority" "message, --priority urgent"
assert_eq "" "$OUT" "no id printed for --priority urgent"

# payload over the limit (default --max-payload-bytes 65536)
"$PY" -c 'import json; print(json.dumps({"s": "a" * 70000}))' >"$TMP/big.json"
run_p enqueue --type noop --queue "$Q" --payload "@$TMP/big.json"
assert_eq 1 "$RC" "exit status, payload over 64 KiB"
assert_contains "$ERR" "payload" "message, payload over 64 KiB"
assert_contains "$ERR" "65536" "message names the limit"
run_p enqueue --type noop --queue "$Q" --max-payload-bytes 100 --payload "{\"s\":\"$(printf 'b%.0s' $(seq 1 200))\"}"
assert_eq 1 "$RC" "exit status, payload over --max-payload-bytes 100"
assert_contains "$ERR" "100" "message names the configured limit"

# wrong type for max_attempts in NDJSON
echo '{"type":"noop","queue":"q","payload":{},"max_attempts":"three"}' >"$TMP/wrongtype.ndjson"
run_p enqueue --ndjson "$TMP/wrongtype.ndjson"
assert_eq 1 "$RC" "exit status, max_attempts a string"
assert_contains "$ERR" "max_attempts" "message names max_attempts"
assert_contains "$ERR" "line 1:" "message names the line"

# usage errors
run_p enqueue --queue "$Q" --payload '{}'
assert_eq 2 "$RC" "exit status, no --type"
assert_contains "$ERR" "--type" "message, no --type"
run_p enqueue --type noop --payload '{}' --no-such-option
assert_eq 2 "$RC" "exit status, unknown option"
run_p enqueue --type noop --payload '{}' --max-attempts abc
assert_eq 2 "$RC" "exit status, --max-attempts abc"

assert_eq 0 "$(ready_total)" "jobs in ready after the refusals"
assert_eq 0 "$(rcli --scan --pattern "$SLUICE_PREFIX:*job:*" | grep -c .)" "job keys after the refusals"

# NDJSON: 5 good lines, bad ones at lines 3 and 6
{
    echo '{"type":"noop","queue":"bulk","payload":{"line":1}}'
    echo '{"type":"noop","queue":"bulk","payload":{"line":2}}'
    echo '{"type":"noop","queue":"bulk","priority":"urgent","payload":{"line":3}}'
    echo '{"type":"noop","queue":"bulk","payload":{"line":4}}'
    echo '{"type":"noop","queue":"bulk","payload":{"line":5}}'
    echo '{"type":"noop","queue":"bulk","payload":{"line":6}'
    echo '{"type":"noop","queue":"bulk","payload":{"line":7}}'
} >"$TMP/mixed.ndjson"
run_p enqueue --ndjson - <"$TMP/mixed.ndjson"
assert_eq 1 "$RC" "exit status, NDJSON with 2 bad lines"
assert_eq 5 "$(printf '%s\n' "$OUT" | grep -c .)" "ids printed"
assert_contains "$ERR" "line 3:" "stderr reports line 3"
assert_contains "$ERR" "line 6:" "stderr reports line 6"
assert_eq 2 "$(printf '%s\n' "$ERR" | grep -c '^line ')" "lines reported"
order=""
for id in $OUT; do
    order="$order $(json_get "$(job_body "$id" bulk)" payload | jq -r .line)"
done
assert_eq " 1 2 4 5 7" "$order" "ids in input order (payload lines of the printed ids)"
assert_eq 5 "$(stat_of enqueued bulk)" "stats enqueued"
assert_eq 5 "$(ready_total bulk)" "jobs in ready"
assert_eq 5 "$(rcli --scan --pattern "$(k 'job:*' bulk)" | grep -c .)" "job keys"

# unreachable Redis: exit 2, names the address, hides the password
run_p enqueue --type noop --queue "$Q" --payload '{}' --redis-url 'redis://user:secretpw@127.0.0.1:1/0'
assert_eq 2 "$RC" "exit status, unreachable Redis"
assert_contains "$ERR" "127.0.0.1:1" "message names the address"
assert_not_contains "$OUT$ERR" "secretpw" "output"
SLUICE_REDIS_URL='redis://user:secretpw@127.0.0.1:1/0' run_p enqueue --ndjson "$TMP/mixed.ndjson"
assert_eq 2 "$RC" "exit status, unreachable Redis (bulk, from the environment)"
assert_not_contains "$OUT$ERR" "secretpw" "output (bulk)"

# a job id chosen by the client is refused when taken, in the same batch or before
{
    echo '{"id":"dup-1","type":"noop","queue":"qd","payload":{}}'
    echo '{"id":"dup-1","type":"noop","queue":"qd","payload":{"again":true}}'
    echo '{"id":"dup-2","type":"noop","queue":"qd","payload":{}}'
} >"$TMP/dup.ndjson"
run_p enqueue --ndjson "$TMP/dup.ndjson"
assert_eq 1 "$RC" "exit status, duplicate id in one batch"
assert_contains "$ERR" "line 2: id: a job with id dup-1 exists already" "duplicate id reported"
assert_eq "dup-1 dup-2" "$(printf '%s\n' "$OUT" | paste -sd' ')" "ids of the accepted jobs"
printf '%s\n' '{"id":"dup-2","type":"noop","queue":"qd","payload":{}}' >"$TMP/dup2.ndjson"
run_p enqueue --ndjson "$TMP/dup2.ndjson"
assert_eq 1 "$RC" "exit status, id taken by an earlier call"
assert_eq 2 "$(stat_of enqueued qd)" "only the first of each id enqueued"
assert_eq '{}' "$(json_get "$(job_body dup-1 qd)" payload)" "the first dup-1 kept"

# bulk over several queues at once, more jobs than one batch: every queue's
# batches and registrations share one pipeline, and ids still come out in
# input order
$PY -c '
for i in range(2500):
    q = ("qa", "qb", "qc")[i % 3] if 1200 <= i < 2100 else "qa"  # new queues mid-stream
    print("{\"type\":\"noop\",\"queue\":\"%s\",\"payload\":{\"i\":%d}}" % (q, i))
' >"$TMP/multi.ndjson"
run_p enqueue --ndjson "$TMP/multi.ndjson"
assert_eq 0 "$RC" "exit status, NDJSON over three queues"
assert_eq 2500 "$(printf '%s\n' "$OUT" | grep -c .)" "ids printed for three queues"
assert_eq 1900 "$(stat_of enqueued qa)" "queue qa enqueued"
assert_eq 300 "$(stat_of enqueued qb)" "queue qb enqueued"
assert_eq 300 "$(stat_of enqueued qc)" "queue qc enqueued"
assert_eq "$(printf '%s\n' "$OUT" | sort)" "$(printf '%s\n' "$OUT")" "ids sorted = input order"
assert_eq 3 "$(rcli SMEMBERS "$SLUICE_PREFIX:queues" | grep -c '^q[abc]$')" "queues registered"

assert_nothing_running
finish
