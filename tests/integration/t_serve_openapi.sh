# t_serve_openapi: schemas/openapi.json is a valid OpenAPI 3.1 document by
# a reference validator (@seriousme/openapi-schema-validator from npm,
# installed with npm ci from tests/clients/openapi's lock file), and every
# response it documents, for every endpoint and error, is produced live by
# the intake and matches its schema (python3-jsonschema).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
command -v npm >/dev/null || die "npm not found (make deps installs nodejs and npm)"
cp "$ROOT"/tests/clients/openapi/{package.json,package-lock.json,validate.mjs} "$TMP/"
rc=0
npm_ci "$TMP" || rc=$?
if [ "$rc" = 2 ]; then
    say "# SKIPPED the reference validator: the npm registry cannot be reached from here ($NPM_WHY); the live answers are still checked"
elif [ "$rc" != 0 ]; then
    die "npm ci failed: $NPM_WHY"
elif out=$(cd "$TMP" && node validate.mjs "$ROOT/schemas/openapi.json" "$ROOT/schemas"); then
    ok "openapi.json is valid OpenAPI 3.1 ($out)"
else
    fail "openapi.json: $out"
fi

start_redis
: >"$TMP/tokens"
new_token all
new_token scoped --queues other
new_token slow --queues "$Q" --rate 1
start_intake --tokens-file "$TMP/tokens"

: >"$TMP/records"
# rec METHOD PATH_TEMPLATE: files the last answer (CODE, BODY)
rec() {
    jq -cn --arg m "$1" --arg p "$2" --argjson s "$CODE" --arg b "$BODY" \
        '{method: $m, path: $p, status: $s, body: $b}' >>"$TMP/records"
}
J="{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{}}"

req GET /healthz "" && rec get /healthz
req GET /readyz "" && rec get /readyz
post_json /v1/jobs "$TOK_all" "$J" && rec post /v1/jobs
id=$(jq_of .id)
post_json /v1/jobs "$TOK_all" "{\"jobs\":[$J,$J]}" && rec post /v1/jobs
post_json /v1/jobs "$TOK_all" "{\"jobs\":[$J,{\"type\":\"sleep\",\"payload\":{\"ms\":\"x\"}}]}" && rec post /v1/jobs
post_json /v1/jobs "" "$J" && rec post /v1/jobs
post_json /v1/jobs "$TOK_scoped" "$J" && rec post /v1/jobs
post_json /v1/jobs "$TOK_all" "{\"jobs\":[$J,{\"type\":\"noop\",\"queue\":\"$Q\",\"id\":\"$id\",\"payload\":{}}]}" && rec post /v1/jobs
assert_eq 409 "$CODE" "a chosen id that exists"
head -c 9000000 /dev/zero | tr '\0' ' ' >"$TMP/big"
post_json /v1/jobs "$TOK_all" "@$TMP/big" && rec post /v1/jobs
req POST /v1/jobs "$TOK_all" -H 'Content-Type: text/plain' -d "$J" && rec post /v1/jobs
post_json /v1/jobs "$TOK_slow" "$J" && post_json /v1/jobs "$TOK_slow" "$J" && rec post /v1/jobs
assert_eq 429 "$CODE" "over the quota"

req GET "/v1/jobs/$id" "$TOK_all" && rec get "/v1/jobs/{id}"
req GET "/v1/jobs/$id?wait=99" "$TOK_all" && rec get "/v1/jobs/{id}"
req GET "/v1/jobs/$id?queue=$Q" "$TOK_scoped" && rec get "/v1/jobs/{id}"
req GET "/v1/jobs/nosuchjob" "$TOK_all" && rec get "/v1/jobs/{id}"
req GET "/v1/jobs/$id" "" && rec get "/v1/jobs/{id}"
post_json /v1/jobs "$TOK_all" "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{},\"delay_ms\":600000}"
d=$(jq_of .id)
req DELETE "/v1/jobs/$d" "$TOK_all" && rec delete "/v1/jobs/{id}"
req DELETE "/v1/jobs/$d" "$TOK_all" && rec delete "/v1/jobs/{id}"
req DELETE "/v1/jobs/nosuchjob" "$TOK_all" && rec delete "/v1/jobs/{id}"
req DELETE "/v1/jobs/$d" "" && rec delete "/v1/jobs/{id}"
req GET /v1/queues "$TOK_all" && rec get /v1/queues
req GET /v1/queues "" && rec get /v1/queues
b=$(producer enqueue --redis-url "redis://127.0.0.1:$REDIS_PORT" --batch new \
    --batch-callback '{"type":"noop","payload":{}}' --type noop --queue "$Q" --payload '{}' | sed -n 1p)
req GET "/v1/batches/$b" "$TOK_all" && rec get "/v1/batches/{id}"
req GET /v1/batches/nosuchbatch "$TOK_all" && rec get "/v1/batches/{id}"
req GET "/v1/batches/$b" "" && rec get "/v1/batches/{id}"

stop "$REDIS_PID"
wait_until 10 "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$I/readyz')\" = 503 ]" ||
    fail "/readyz still ready with redis stopped"
req GET /readyz "" && rec get /readyz
post_json /v1/jobs "$TOK_all" "$J" && rec post /v1/jobs
req GET "/v1/jobs/$id" "$TOK_all" && rec get "/v1/jobs/{id}"
req DELETE "/v1/jobs/$id" "$TOK_all" && rec delete "/v1/jobs/{id}"
req GET /v1/queues "$TOK_all" && rec get /v1/queues
req GET "/v1/batches/$b" "$TOK_all" && rec get "/v1/batches/{id}"

# --spool with redis still down: 202 "spooled", and /readyz with the spool
stop "$INTAKE_PID"
start_intake --tokens-file "$TMP/tokens" --spool "$TMP/spool.db"
post_json /v1/jobs "$TOK_all" "$J" && rec post /v1/jobs
assert_eq 202 "$CODE" "one job spooled"
post_json /v1/jobs "$TOK_all" "{\"jobs\":[$J,$J]}" && rec post /v1/jobs
assert_eq 202 "$CODE" "an array spooled"
req GET /readyz "" && rec get /readyz
assert_eq 200 "$CODE" "ready with redis down and room in the spool"
# redis back: the intake flushes its spool; GET /v1/queues shows the spool
restart_redis
wait_until 30 "[ \"\$(curl -s '$I/readyz' | jq -r .spool.jobs)\" = 0 ]" ||
    fail "the intake's spool still holds $(curl -s "$I/readyz" | jq -r .spool.jobs) jobs"
req GET /v1/queues "$TOK_all" && rec get /v1/queues
assert_eq "200 0 true" "$CODE $(jq_of '"\(.spool.jobs) \(.spool.room)"')" \
    "GET /v1/queues shows the intake's spool (flushed: 0 jobs)"

if out=$("$PY" "$ROOT/tests/clients/openapi/check_responses.py" "$ROOT/schemas/openapi.json" \
    "$TMP/records"); then
    ok "live answers match openapi.json: $(tail -1 <<<"$out")"
else
    fail "live answers against openapi.json:"
    sed 's/^/#   /' <<<"$out"
fi

stop "$INTAKE_PID"
assert_nothing_running
finish
