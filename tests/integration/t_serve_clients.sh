# t_serve_clients: the README's HTTP examples (section "The HTTP intake")
# run for real against the intake, redis-server, a worker and the fake
# Discord: Python with the standard library (tests/clients/python/intake.py)
# and Node with its built-in fetch (tests/clients/node/intake.mjs; skipped,
# saying so, only when node is absent). Each POSTs a message job with an
# Idempotency-Key, holds GET ?wait until it is done and reads its result
# (the message id); a second run with the same key gets the same id and
# sends nothing more. The README holds each example verbatim.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
. "$(dirname "$0")/clients_lib.sh"

DTOKEN="serve-clients-$$-discord-secret"
start_redis
start_fake fake --discord-token "$DTOKEN" --global-limit 0 --bucket-limit 0
use_discord_fake "$DTOKEN"
start_worker w1 --queues message --concurrency 10
new_token bot --queues message --types message
start_intake --tokens-file "$TMP/tokens"
export SLUICE_INTAKE_URL=$I SLUICE_INTAKE_TOKEN=$TOK_bot

# ---------------------------------------------------------------- python
"$PY" "$ROOT/tests/clients/python/intake.py" >"$TMP/py.out" 2>&1 || fail "python example: $(cat "$TMP/py.out")"
ran python "$TMP/py.out" 4545
"$PY" "$ROOT/tests/clients/python/intake.py" >"$TMP/py2.out" 2>&1
again python "$TMP/py2.out" 4545
in_readme "$ROOT/tests/clients/python/intake.py"

# ---------------------------------------------------------------- node
if ! command -v node >/dev/null; then
    say "# SKIPPED the Node example: node is not installed (Debian: nodejs; make deps)"
else
    node "$ROOT/tests/clients/node/intake.mjs" >"$TMP/node.out" 2>"$TMP/node.err" ||
        fail "node example: $(cat "$TMP/node.out" "$TMP/node.err")"
    ran node "$TMP/node.out" 4646
    node "$ROOT/tests/clients/node/intake.mjs" >"$TMP/node2.out" 2>&1
    again node "$TMP/node2.out" 4646
fi
in_readme "$ROOT/tests/clients/node/intake.mjs"

# a refused job: the examples' error path names the field
bad=$(sed 's/"channel_id": "4545"/"channel_id": 4545/' "$ROOT/tests/clients/python/intake.py")
"$PY" -c "$bad" >"$TMP/bad.out" 2>&1 && fail "python: a bad job was not refused"
assert_contains "$(cat "$TMP/bad.out")" "refused (400)" "python: a bad job is refused with 400"
assert_contains "$(cat "$TMP/bad.out")" "payload.channel_id" "python: the error names the field"

stop "$INTAKE_PID"
stop "$(pid_of w1)"
stop "$FAKE_PID"
assert_nothing_running
finish
