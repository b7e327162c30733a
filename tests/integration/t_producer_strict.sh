# t_producer_strict: what sluice-producer accepts is exactly what it
# stores (issue 9). cJSON alone took {...}{...} as one job, cut "a\u0000b"
# to "a", stored invalid UTF-8, kept the first of two equal names and read
# 1e400 as null. Each case below is refused as "line N: FIELD: reason";
# then 5,600 mutated envelopes (tests/corpus/mutate.py, fixed seed) are
# each either refused that way or stored with exactly the values written
# (tests/corpus/check_outcome.py): never a crash, never a silent drop.
. "$(dirname "$0")/lib.sh"

CORPUS=$(cd "$(dirname "$0")/../corpus" && pwd)
start_redis

run_p() {
    RC=0
    producer "$@" >"$TMP/p.out" 2>"$TMP/p.err" || RC=$?
    OUT=$(cat "$TMP/p.out")
    ERR=$(cat "$TMP/p.err")
}
jobs_in() { rcli --scan --pattern "$(k 'job:*' "$1")" | grep -c .; }

# two objects on one line: both refused, nothing stored
printf '%s\n' '{"type":"noop","queue":"two","payload":{"a":1}}{"type":"noop","queue":"two","payload":{"b":2}}' >"$TMP/two.ndjson"
run_p enqueue --ndjson "$TMP/two.ndjson"
assert_eq 1 "$RC" "exit status, two values on a line"
assert_contains "$ERR" "line 1: (document): a second JSON value after the first" "two values refused"
assert_eq "" "$OUT" "no id for two values on a line"
assert_eq 0 "$(jobs_in two)" "jobs stored from two values on a line"

# a type with no schema (none of schemas/): refused, as FCALL sluice_enqueue
# and the intake refuse it, instead of dead at the worker
run_p enqueue --type nope --queue unknown --payload '{}'
assert_eq 1 "$RC" "exit status, an unknown job type"
assert_contains "$ERR" 'type: unknown job type "nope" (known: approval, fail, followup, interview, message, noop, pdf, sleep)' \
    "an unknown type refused, the known ones named"
assert_eq 0 "$(jobs_in unknown)" "jobs stored of an unknown type"

# --payload with trailing data
run_p enqueue --type sleep --queue trail --payload '{"ms":5} trailing'
assert_eq 1 "$RC" "exit status, --payload with trailing data"
assert_contains "$ERR" "payload: data after the JSON value: 't'" "trailing data named"
assert_eq 0 "$(jobs_in trail)" "jobs stored from --payload with trailing data"
run_p enqueue --type sleep --queue trail --payload '{"ms":5}{"ms":6}'
assert_eq 1 "$RC" "exit status, --payload with two objects"

# NUL in strings: two idempotency keys that cJSON would both cut to "a"
printf '%s\n' '{"type":"noop","queue":"nul","idempotency_key":"a\u0000b","payload":{}}' \
    '{"type":"noop","queue":"nul","idempotency_key":"a\u0000c","payload":{}}' \
    '{"type":"noop","queue":"nul","payload":{"text":"x\u0000y"}}' >"$TMP/nul.ndjson"
printf '{"type":"noop","queue":"nul","payload":{"text":"x\0y"}}\n' >>"$TMP/nul.ndjson"
run_p enqueue --ndjson "$TMP/nul.ndjson"
assert_eq 1 "$RC" "exit status, NUL in strings"
assert_contains "$ERR" 'line 1: idempotency_key: \u0000 (NUL) in a string' "line 1 (key a\\u0000b) refused"
assert_contains "$ERR" 'line 2: idempotency_key: \u0000 (NUL)' "line 2 (key a\\u0000c) refused"
assert_contains "$ERR" 'line 3: payload.text: \u0000 (NUL)' "line 3 (\\u0000 in the payload) refused"
assert_contains "$ERR" 'line 4: payload.text: NUL byte in a string' "line 4 (raw NUL) refused"
assert_eq 0 "$(jobs_in nul)" "jobs stored with a NUL"

# invalid UTF-8, control characters, duplicate names, numbers out of range
{
    printf '{"type":"noop","queue":"bad","payload":{"t":"\xc0\xaf"}}\n'
    printf '{"type":"noop","queue":"bad","payload":{"t":"\xed\xa0\x80"}}\n'
    printf '{"type":"noop","queue":"bad","payload":{"t":"\xf4\x90\x80\x80"}}\n'
    printf '{"type":"noop","queue":"bad","payload":{"t":"\xe2\x82"}}\n'
    printf '{"type":"noop","queue":"bad","payload":{"t":"\\ud800"}}\n'
    printf '{"type":"noop",\x01"queue":"bad","payload":{}}\n'
    printf '{"type":"noop","queue":"bad","payload":{"t":"a\tb"}}\n'
    printf '{"type":"noop","queue":"bad","payload":{"a":1,"a":2}}\n'
    printf '{"type":"noop","queue":"bad","queue":"other","payload":{}}\n'
    printf '{"type":"noop","queue":"bad","payload":{"n":1e400}}\n'
    printf '{"type":"noop","queue":"bad","payload":{"n":9007199254740993}}\n'
    printf '{"type":"noop","queue":"bad","payload":{"ok":true}}\n'
} >"$TMP/bad.ndjson"
run_p enqueue --ndjson "$TMP/bad.ndjson"
assert_eq 1 "$RC" "exit status, bad lines"
assert_contains "$ERR" "line 1: payload.t: invalid UTF-8: overlong encoding" "overlong UTF-8"
assert_contains "$ERR" "line 2: payload.t: invalid UTF-8: encodes a surrogate" "UTF-8 surrogate"
assert_contains "$ERR" "line 3: payload.t: invalid UTF-8: beyond U+10FFFF" "beyond U+10FFFF"
assert_contains "$ERR" "line 4: payload.t: invalid UTF-8: truncated sequence" "truncated UTF-8"
assert_contains "$ERR" 'line 5: payload.t: lone high surrogate \ud800' "lone surrogate escape"
assert_contains "$ERR" "line 6: (document): control character 0x01 outside a string" "control character between tokens"
assert_contains "$ERR" "line 7: payload.t: unescaped control character 0x09" "raw tab in a string"
assert_contains "$ERR" "line 8: payload.a: duplicate member name" "duplicate name in the payload"
assert_contains "$ERR" "line 9: queue: duplicate member name" "duplicate envelope field"
assert_contains "$ERR" "line 10: payload.n: number 1e400 is out of range" "1e400"
assert_contains "$ERR" "line 11: payload.n: number 9007199254740993 would be stored as" "2^53 + 1"
assert_eq 11 "$(printf '%s\n' "$ERR" | grep -c '^line ')" "lines refused"
assert_eq 1 "$(printf '%s\n' "$OUT" | grep -c .)" "ids printed (the good line)"
assert_eq 1 "$(jobs_in bad)" "jobs stored from the bad lines"
assert_eq 0 "$(jobs_in other)" "jobs stored in the second 'queue' of line 9"

# --batch-callback is checked the same way
run_p enqueue --type noop --queue cb --payload '{}' --batch new \
    --batch-callback '{"type":"noop","payload":{}} x'
assert_eq 2 "$RC" "exit status, --batch-callback with trailing data"
assert_contains "$ERR" "--batch-callback: (document): data after the JSON value" "--batch-callback refused"

# every valid corpus line is stored with the values written
"$PY" -c 'import sys; sys.stdout.buffer.write(open(sys.argv[1], "rb").read())' \
    "$CORPUS/valid.ndjson" >"$TMP/valid.ndjson"
run_p enqueue --ndjson "$TMP/valid.ndjson"
assert_eq 0 "$RC" "exit status, the valid corpus"
if "$PY" "$CORPUS/check_outcome.py" "$TMP/valid.ndjson" "$TMP/p.out" "$TMP/p.err" "$REDIS_PORT" \
    "$SLUICE_PREFIX" >"$TMP/check.valid"; then
    ok "valid corpus stored as written: $(tail -1 "$TMP/check.valid")"
else
    fail "valid corpus: $(cat "$TMP/check.valid")"
fi

# 5,600 mutated envelopes
"$PY" "$CORPUS/mutate.py" "$TMP/mutated.ndjson" 5600 9
run_p enqueue --ndjson "$TMP/mutated.ndjson"
case $RC in 0 | 1) ok "exit status $RC over the mutated corpus (no crash, no usage error)" ;;
*) fail "exit status $RC over the mutated corpus" ;; esac
if "$PY" "$CORPUS/check_outcome.py" "$TMP/mutated.ndjson" "$TMP/p.out" "$TMP/p.err" "$REDIS_PORT" \
    "$SLUICE_PREFIX" >"$TMP/check.mutated"; then
    ok "mutated corpus: every line refused with its field or stored as written: $(grep checked "$TMP/check.mutated")"
else
    fail "mutated corpus: $(head -c 3000 "$TMP/check.mutated")"
fi

assert_nothing_running
finish
