# t_func_clients: the examples of README's "Enqueue from any language" run
# for real against redis-server, a worker and the fake Discord: Python with
# redis-py (tests/clients/python/enqueue.py) and Node with ioredis
# (tests/clients/node, installed with `npm ci` into the test's directory;
# skipped, saying so, only when npm is absent). Each enqueues a message job
# with FCALL, follows it with FCALL_RO sluice_job until it is done and
# reads its result (the message id), and a
# second run with the same idempotency key gets the same id and sends
# nothing more. The README holds each example verbatim.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/clients_lib.sh"

TOKEN="clients-$$-discord-secret"
start_redis
start_fake fake --discord-token "$TOKEN" --global-limit 0 --bucket-limit 0
use_discord_fake "$TOKEN"
"$SLUICE_BIN/sluice-ctl" install >/dev/null || die "sluice-ctl install failed"
start_worker w1 --queues message --concurrency 10

# ---------------------------------------------------------------- python
if "$PY" -c 'import redis' 2>/dev/null; then
    "$PY" "$ROOT/tests/clients/python/enqueue.py" >"$TMP/py.out" 2>&1 || fail "python example: $(cat "$TMP/py.out")"
    ran python "$TMP/py.out" 4242
    "$PY" "$ROOT/tests/clients/python/enqueue.py" >"$TMP/py2.out" 2>&1
    again python "$TMP/py2.out" 4242
else
    fail "python3 has no redis module (Debian: python3-redis; make deps installs it)"
fi
in_readme "$ROOT/tests/clients/python/enqueue.py"

# ---------------------------------------------------------------- node
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
    say "# SKIPPED the Node example: npm or node is not installed (Debian: nodejs npm; make deps)"
else
    mkdir -p "$TMP/node"
    cp "$ROOT/tests/clients/node/package.json" "$ROOT/tests/clients/node/package-lock.json" \
        "$ROOT/tests/clients/node/enqueue.js" "$TMP/node/"
    rc=0
    npm_ci "$TMP/node" || rc=$?
    if [ "$rc" = 2 ]; then
        say "# SKIPPED the Node example: the npm registry cannot be reached from here ($NPM_WHY)"
    elif [ "$rc" = 0 ]; then
        ok "npm ci installed ioredis"
        (cd "$TMP/node" && node enqueue.js) >"$TMP/node.out" 2>&1 || fail "node example: $(cat "$TMP/node.out")"
        ran node "$TMP/node.out" 4343
        (cd "$TMP/node" && node enqueue.js) >"$TMP/node2.out" 2>&1
        again node "$TMP/node2.out" 4343
    else
        fail "npm ci failed: $NPM_WHY"
    fi
fi
in_readme "$ROOT/tests/clients/node/enqueue.js"

stop "$(pid_of w1)"
stop "$FAKE_PID"
assert_nothing_running
finish
