# t_serve: the HTTP intake (sluice-producer serve) answers every endpoint
# and every error as documented, against a real redis-server: jobs stored
# with their ids, arrays all or nothing, strict JSON (invalid UTF-8,
# trailing data), body limits (a 10 MB body refused from Content-Length and
# while streaming), content type, bearer tokens (scopes, quota with
# Retry-After, SIGHUP reload, never logged), idempotency keys, cancel,
# queues, batches, 503 + Retry-After while Redis is down, a Unix socket.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

start_redis
: >"$TMP/tokens"
new_token all
new_token noop --queues noop --types noop
new_token slow --queues "$Q" --rate 5
start_intake --tokens-file "$TMP/tokens"

# ---- health
req GET /healthz ""
assert_eq 200 "$CODE" "GET /healthz"
req GET /readyz ""
assert_eq 200 "$CODE" "GET /readyz with redis up"

# ---- one job
post_json /v1/jobs "$TOK_all" "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{}}"
assert_eq 201 "$CODE" "POST one job"
id=$(jq_of .id)
assert_contains "$(job_body "$id")" "\"id\":\"$id\"" "the job is stored under its id"
assert_eq 1 "$(llen normal)" "ready jobs after one POST"
assert_eq "$Q" "$(rcli sismember "$SLUICE_PREFIX:queues" "$Q" | sed "s/^1$/$Q/")" "queue registered"

# ---- an array
post_json /v1/jobs "$TOK_all" "{\"jobs\":[{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{}},{\"type\":\"sleep\",\"queue\":\"$Q\",\"priority\":\"high\",\"payload\":{\"ms\":1}}]}"
assert_eq 201 "$CODE" "POST an array of 2"
assert_eq 2 "$(jq_of '.ids | length')" "ids in the answer"
assert_eq 1 "$(llen high)" "the high priority job is in ready:high"

# ---- 1,000 jobs with one bad: nothing stored
before=$(stat_of enqueued)
"$PY" - "$Q" >"$TMP/bad1000.json" <<'PY'
import json, sys
jobs = [{"type": "sleep", "queue": sys.argv[1], "payload": {"ms": 1}} for _ in range(1000)]
jobs[537]["payload"]["ms"] = "x"
print(json.dumps({"jobs": jobs}))
PY
post_json /v1/jobs "$TOK_all" "@$TMP/bad1000.json"
assert_eq 400 "$CODE" "1,000 jobs with one bad"
assert_eq 537 "$(jq_of .error.index)" "the bad job's index"
assert_eq payload.ms "$(jq_of .error.field)" "the bad job's field"
assert_contains "$(jq_of .error.message)" "nothing of this request was stored" "the error says so"
assert_eq "$before" "$(stat_of enqueued)" "jobs stored from the bad array"
sed 's/"x"/1/' "$TMP/bad1000.json" >"$TMP/good1000.json"
post_json /v1/jobs "$TOK_all" "@$TMP/good1000.json"
assert_eq 201 "$CODE" "1,000 good jobs"
assert_eq 1000 "$(jq_of '.ids | unique | length')" "distinct ids"
assert_eq $((before + 1000)) "$(stat_of enqueued)" "jobs stored from the good array"
"$PY" -c 'import json; print(json.dumps({"jobs": [{"type": "noop", "payload": {}}] * 1001}))' \
    >"$TMP/1001.json"
post_json /v1/jobs "$TOK_all" "@$TMP/1001.json"
assert_eq 400 "$CODE" "1,001 jobs"
assert_eq jobs "$(jq_of .error.field)" "field of 1,001 jobs"

# ---- concurrent POSTs share enqueue script calls
calls() { rcli info commandstats | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\).*/\1/p'; }
c0=$(calls)
mkdir "$TMP/burst"
"$PY" "$(dirname "$0")/serve_burst.py" "$INTAKE_PORT" "$TOK_all" "$Q" 200 "$TMP/burst" \
    >"$TMP/burst.out" 2>"$TMP/burst.log" &
BURST=$!
wait_until 30 "[ -e '$TMP/burst/connected' ]" || fail "the burst client did not connect"
wait_until 10 "[ \$(ss -Htn state established '( sport = :$INTAKE_PORT )' | wc -l) -ge 200 ]" ||
    fail "the intake did not accept the 200 connections"
kill -STOP "$INTAKE_PID" # the requests wait in their sockets, then come in together
touch "$TMP/burst/go"
wait_until 30 "[ -e '$TMP/burst/sent' ]" || fail "the burst client did not send"
kill -CONT "$INTAKE_PID"
wait "$BURST"
got=$(cat "$TMP/burst.out")
c1=$(calls)
assert_eq 200 "$got" "200 concurrent single-job POSTs answered 201"
assert_le $((c1 - c0)) 100 "enqueue script calls for them"
say "# 200 concurrent POSTs: $((c1 - c0)) script calls"

# ---- strict JSON
post_json /v1/jobs "$TOK_all" '{"type":"noop","payload":{}} {"type":"noop","payload":{}}'
assert_eq 400 "$CODE" "trailing data"
assert_contains "$BODY" "after the first" "trailing data: the message"
assert_eq null "$(jq_of .error.field)" "trailing data: no field"
printf '{"type":"noop","payload":{"s":"\xc0\xaf"}}' >"$TMP/utf8.json"
post_json /v1/jobs "$TOK_all" "@$TMP/utf8.json"
assert_eq 400 "$CODE" "invalid UTF-8"
assert_contains "$BODY" "UTF-8" "invalid UTF-8: the message"
assert_eq payload.s "$(jq_of .error.field)" "invalid UTF-8: the field"
post_json /v1/jobs "$TOK_all" 'type=noop'
assert_eq 400 "$CODE" "a body that is not JSON"
post_json /v1/jobs "$TOK_all" '{"type":"sleep","payload":{"ms":"5"}}'
assert_eq 400 "$CODE" "a payload of the wrong type"
assert_eq payload.ms "$(jq_of .error.field)" "the field named"
assert_eq "expected integer, got string" "$(jq_of .error.message)" "the message"
# a type with no schema is no job type: refused as FCALL refuses it
post_json /v1/jobs "$TOK_all" '{"type":"nope","payload":{}}'
assert_eq "400 type" "$CODE $(jq_of .error.field)" "an unknown job type"
assert_contains "$(jq_of .error.message)" 'unknown job type "nope" (known: approval, fail, followup' \
    "an unknown job type: the known ones named"

# ---- size, type
head -c 10485760 /dev/zero | tr '\0' ' ' >"$TMP/10mb.json"
post_json /v1/jobs "$TOK_all" "@$TMP/10mb.json"
assert_eq 413 "$CODE" "a 10 MB body (Content-Length)"
post_json /v1/jobs "$TOK_all" "@$TMP/10mb.json" -H 'Transfer-Encoding: chunked'
assert_eq 413 "$CODE" "a 10 MB body (chunked)"
assert_contains "$BODY" "8388608" "the limit is named"
req POST /v1/jobs "$TOK_all" -H 'Content-Type: text/plain' --data-binary '{"type":"noop","payload":{}}'
assert_eq 415 "$CODE" "Content-Type text/plain"
pad=$(head -c 1000 /dev/zero | tr '\0' a)
post_json /v1/jobs "$TOK_all" "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{}}" -H "X-Pad: $pad"
assert_eq 201 "$CODE" "a request with 1,000 bytes more of headers"
req GET /v1/nothing "$TOK_all"
assert_eq 404 "$CODE" "an unknown path"
req PUT /v1/jobs "$TOK_all"
assert_eq 405 "$CODE" "PUT /v1/jobs"

# ---- tokens
post_json /v1/jobs "" '{"type":"noop","payload":{}}'
assert_eq 401 "$CODE" "no token"
assert_contains "$HDRS" "WWW-Authenticate: Bearer" "401 names the scheme"
post_json /v1/jobs "sluice_0000" '{"type":"noop","payload":{}}'
assert_eq 401 "$CODE" "an unknown token"
post_json /v1/jobs "$TOK_noop" "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{}}"
assert_eq 403 "$CODE" "a queue the token does not have"
assert_eq queue "$(jq_of .error.field)" "403 names the field"
post_json /v1/jobs "$TOK_noop" '{"type":"sleep","queue":"noop","payload":{"ms":1}}'
assert_eq 403 "$CODE" "a type the token does not have"
post_json /v1/jobs "$TOK_noop" '{"type":"noop","payload":{}}'
assert_eq 201 "$CODE" "a queue and type the token has"
req GET "/v1/jobs/$id" "$TOK_noop"
assert_eq 404 "$CODE" "a job in a queue the token does not see"
five="{\"jobs\":[$(for i in 1 2 3 4 5; do printf '{"type":"noop","queue":"%s","payload":{}}%s' "$Q" "$([ $i -lt 5 ] && echo ,)"; done)]}"
post_json /v1/jobs "$TOK_slow" "$five"
assert_eq 201 "$CODE" "5 jobs within a 5 jobs/s quota"
post_json /v1/jobs "$TOK_slow" "$five"
assert_eq 429 "$CODE" "5 more at once"
ra=$(sed -n 's/^Retry-After: //p' <<<"$HDRS")
assert_le 1 "${ra:-0}" "Retry-After on 429"
sleep "$ra"
post_json /v1/jobs "$TOK_slow" "$five"
assert_eq 201 "$CODE" "after Retry-After"
if grep -qF -e "$TOK_all" -e "$TOK_noop" -e "$TOK_slow" "$TMP/intake.log"; then
    fail "a token is in the intake's log"
else
    ok "no token in the intake's log"
fi
# SIGHUP: a new token works without a restart
new_token late
post_json /v1/jobs "$TOK_late" '{"type":"noop","payload":{}}'
assert_eq 401 "$CODE" "a token added, before SIGHUP"
kill -HUP "$INTAKE_PID"
wait_until 5 "grep -q 'tokens reloaded' '$TMP/intake.log'" || fail "no reload logged"
post_json /v1/jobs "$TOK_late" '{"type":"noop","payload":{}}'
assert_eq 201 "$CODE" "a token added, after SIGHUP"
# a broken file on SIGHUP: the tokens in use stay
cp "$TMP/tokens" "$TMP/tokens.good"
echo '{"name":"broken"' >>"$TMP/tokens"
kill -HUP "$INTAKE_PID"
wait_until 5 "grep -q 'tokens not reloaded' '$TMP/intake.log'" || fail "no refusal logged"
assert_contains "$(grep 'tokens not reloaded' "$TMP/intake.log")" "tokens: line " "the bad line is named"
post_json /v1/jobs "$TOK_late" '{"type":"noop","payload":{}}'
assert_eq 201 "$CODE" "the tokens stay after a SIGHUP with a broken file"
cp "$TMP/tokens.good" "$TMP/tokens"

# ---- idempotency key
post_json /v1/jobs "$TOK_all" "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{}}" -H 'Idempotency-Key: order-77'
a=$(jq_of .id)
post_json /v1/jobs "$TOK_all" "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{}}" -H 'Idempotency-Key: order-77'
assert_eq "$a" "$(jq_of .id)" "the same Idempotency-Key gives the first id"
assert_eq "order-77" "$(json_get "$(job_body "$a")" idempotency_key)" "the key is the job's"

# ---- GET, DELETE
post_json /v1/jobs "$TOK_all" "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{},\"delay_ms\":600000}"
d=$(jq_of .id)
req GET "/v1/jobs/$d" "$TOK_all"
assert_eq 200 "$CODE" "GET a job"
assert_eq delayed "$(jq_of .state)" "its state"
assert_eq "$Q" "$(jq_of .queue)" "its queue, found across queues"
req GET "/v1/jobs/$d?queue=$Q" "$TOK_all"
assert_eq delayed "$(jq_of .state)" "its state with ?queue="
req GET "/v1/jobs/$d?queue=other" "$TOK_all"
assert_eq 404 "$CODE" "?queue= a queue without it"
req GET "/v1/jobs/01NOSUCHJOB" "$TOK_all"
assert_eq 404 "$CODE" "GET an unknown job"
req DELETE "/v1/jobs/$d" "$TOK_all"
assert_eq 200 "$CODE" "DELETE a delayed job"
req GET "/v1/jobs/$d" "$TOK_all"
assert_eq cancelled "$(jq_of .state)" "a cancelled job's state"
req DELETE "/v1/jobs/$d" "$TOK_all"
assert_eq 409 "$CODE" "DELETE it again"

# ---- queues, batches
req GET /v1/queues "$TOK_all"
assert_eq 200 "$CODE" "GET /v1/queues"
"$SLUICE_BIN/sluice-ctl" --redis-url "redis://127.0.0.1:$REDIS_PORT" stats --json >"$TMP/stats.json"
assert_eq "$(jq -S .queues "$TMP/stats.json")" "$(jq -S .queues <<<"$BODY")" \
    "GET /v1/queues = sluice-ctl stats --json"
b=$(producer enqueue --redis-url "redis://127.0.0.1:$REDIS_PORT" --batch new --batch-open \
    --type noop --queue "$Q" --payload '{}' | sed -n 1p)
req GET "/v1/batches/$b" "$TOK_all"
assert_eq 200 "$CODE" "GET a batch"
assert_eq 1 "$(jq_of .total)" "the batch's total"
post_json /v1/jobs "$TOK_all" "{\"type\":\"noop\",\"queue\":\"$Q\",\"batch\":\"$b\",\"payload\":{}}"
assert_eq 201 "$CODE" "a job into an open batch"
req GET "/v1/batches/$b" "$TOK_all"
assert_eq 2 "$(jq_of .total)" "the batch's total after it"
post_json /v1/jobs "$TOK_all" "{\"type\":\"noop\",\"queue\":\"$Q\",\"batch\":\"nobatch1\",\"payload\":{}}"
assert_eq 409 "$CODE" "a job into a batch never opened"
req GET /v1/batches/nobatch1 "$TOK_all"
assert_eq 404 "$CODE" "GET an unknown batch"

# ---- Redis down: 503 + Retry-After, then back
stop "$REDIS_PID"
wait_until 10 "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$I/readyz')\" = 503 ]" ||
    fail "/readyz still ready with redis stopped"
post_json /v1/jobs "$TOK_all" '{"type":"noop","payload":{}}'
assert_eq 503 "$CODE" "POST with redis down"
assert_contains "$HDRS" "Retry-After: " "Retry-After on 503"
req GET "/v1/jobs/$a" "$TOK_all"
assert_eq 503 "$CODE" "GET with redis down"
restart_redis
wait_until 15 "curl -sf '$I/readyz' >/dev/null" || fail "/readyz not back after redis"
post_json /v1/jobs "$TOK_all" "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{}}"
assert_eq 201 "$CODE" "POST once redis is back"

# ---- Redis stops answering mid-request: the job may be stored, and the
# answer says exactly that (here it is: Redis runs it once it goes on)
P3=$(free_port)
start_bg intake3 "$TMP/intake3.log" "$SLUICE_BIN/sluice-producer" serve --no-auth \
    --redis-timeout-ms 500 --redis-url "redis://127.0.0.1:$REDIS_PORT" --listen "127.0.0.1:$P3"
I3=$LAST_PID
wait_until 10 "curl -sf 'http://127.0.0.1:$P3/readyz' >/dev/null" || fail "intake3 not ready"
before=$(stat_of enqueued)
kill -STOP "$REDIS_PID"
code=$(curl -s -o "$TMP/hung.json" -w '%{http_code}' --max-time 20 -H 'Content-Type: application/json' \
    -d "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{}}" "http://127.0.0.1:$P3/v1/jobs")
kill -CONT "$REDIS_PID"
assert_eq 503 "$code" "POST while redis does not answer"
assert_contains "$(jq -r .error.message "$TMP/hung.json")" "may or may not be stored" \
    "the answer says the job may be stored"
wait_until 10 "[ \$(stat_of enqueued) -gt $before ]" &&
    ok "the job was stored after all: the answer was right not to say otherwise" ||
    say "# the job was not stored (it may or may not be)"
stop "$I3"

# ---- a Unix socket
stop "$INTAKE_PID"
assert_eq 0 "$STOP_STATUS" "the intake's exit status on SIGTERM"
start_bg intake2 "$TMP/intake2.log" "$SLUICE_BIN/sluice-producer" serve --no-auth \
    --redis-url "redis://127.0.0.1:$REDIS_PORT" --listen "unix:$TMP/intake.sock"
wait_until 10 "curl -sf --unix-socket '$TMP/intake.sock' http://x/readyz >/dev/null" ||
    fail "no answer on the Unix socket"
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$TMP/intake.sock" \
    -H 'Content-Type: application/json' -d "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{}}" \
    http://x/v1/jobs)
assert_eq 201 "$code" "POST over the Unix socket, --no-auth"
stop "$LAST_PID"
assert_eq 0 "$STOP_STATUS" "exit status on SIGTERM (Unix socket)"

assert_nothing_running
finish
