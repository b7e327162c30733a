# lib.sh — the integration harness, in the manner of hiredis's test.sh.
# Sourced (by bash) at the top of every tests/integration/t_*.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   start_redis
#   start_worker w1 --queues q --concurrency 1
#   ...
#   stop "$(pid_of w1)"
#   assert_nothing_running
#   finish
#
# Everything a test starts (redis-server, workers, schedulers) runs in the
# background with its PID recorded; an EXIT trap kills whatever is still
# alive and removes the private tmpdir. Each test gets its own key prefix
# (SLUICE_PREFIX) and its own redis-server on a free port.
#
# Synchronisation is by polling a condition (wait_until), never by a fixed
# sleep. Sanitizer reports ("ERROR: AddressSanitizer", "runtime error:",
# "SUMMARY: ThreadSanitizer") in any log fail the test, so the same files
# serve the ASan run (SLUICE_BIN=build-san/bin) and the TSan one
# (build-tsan/bin).

set -u

T_NAME=$(basename "$0" .sh)
SLUICE_BIN=${SLUICE_BIN:-$PWD/bin}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-$T_NAME.XXXXXX") || exit 2
export SLUICE_PREFIX="it-$T_NAME-$$"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
# ThreadSanitizer (SAN=thread, build-tsan/bin): the libraries it cannot see
# into are listed in tests/tsan.supp
export TSAN_OPTIONS=${TSAN_OPTIONS:-suppressions=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tsan.supp}
# python3 without a version manager's shim in front (pyenv's costs ~0.5 s a call)
PY=python3
for p in /usr/bin/python3 /usr/local/bin/python3; do
    [ -x "$p" ] && { PY=$p; break; }
done
unset SLUICE_REDIS_URL SLUICE_QUEUES SLUICE_CONCURRENCY SLUICE_LOG_LEVEL 2>/dev/null || true

# ---------------------------------------------------------------- ACL run
#
# SLUICE_TEST_ACL=1 (make test-acl): redis-server loads deploy/users.acl,
# its key and channel patterns moved from "sluice:" to this test's prefix
# (and to "$SLUICE_PREFIX-*:", so that a test's second prefix, PREFIX-cli,
# is in it too) and each role given a password made for this run (ACL_DIR, mode
# 700, removed with TMP; never printed). The test's own redis-cli (rcli)
# stays the unrestricted default user: it plays the operator. Each program
# runs as its role: SLUICE_BIN points at wrappers that put the role's user
# and password into a URL naming this test's Redis (SLUICE_REDIS_URL or
# --redis-url; a URL with a user of its own, or another server's, is left
# alone), then exec the real binary (same pid):
#   sluice-worker -> sluice-worker, sluice-scheduler -> sluice-scheduler,
#   sluice-producer serve -> sluice-intake, any other sluice-producer
#   command -> sluice-producer, sluice-ctl -> sluice-admin.
# At the end (assert_nothing_running) Redis's ACL LOG must hold no refusal
# of a role (a test that provokes some clears it), and no log or output
# file of the test may hold a password.
ACL_ROLES="producer intake worker scheduler admin"
ACL_DIR=
if [ "${SLUICE_TEST_ACL:-0}" = 1 ]; then
    ACL_DIR=$TMP/acl
    mkdir -m 700 "$ACL_DIR" || exit 2
    for role in $ACL_ROLES; do
        (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$ACL_DIR/$role.pass")
    done
    REAL_BIN=$SLUICE_BIN
    mkdir "$ACL_DIR/bin"
    for f in "$REAL_BIN"/*; do
        b=${f##*/}
        case $b in
        sluice-worker) role=worker ;;
        sluice-scheduler) role=scheduler ;;
        sluice-ctl) role=admin ;;
        sluice-producer) role=producer ;; # (serve: intake, in acl_wrap.sh)
        *)
            ln -s "$f" "$ACL_DIR/bin/$b"
            continue
            ;;
        esac
        sed -e "s|@ROLE@|$role|" -e "s|@DIR@|$ACL_DIR|" -e "s|@REAL@|$f|" \
            "$(dirname "${BASH_SOURCE[0]}")/acl_wrap.sh" >"$ACL_DIR/bin/$b"
        chmod 700 "$ACL_DIR/bin/$b"
    done
    SLUICE_BIN=$ACL_DIR/bin
    unset role f b
fi

FAILS=0
CHECKS=0
ALL_PIDS=()          # every process this test started
declare -A NAME_PID  # NAME -> pid, for start_worker / start_scheduler
REDIS_PID=
REDIS_PORT=
REDIS_DIR=
REDIS_AOF=0
PRODUCER_RUNS=0

# ---------------------------------------------------------------- reporting

say() { printf '%s\n' "$*"; }

ok() {
    CHECKS=$((CHECKS + 1))
    say "ok: $*"
}

fail() {
    CHECKS=$((CHECKS + 1))
    FAILS=$((FAILS + 1))
    say "FAIL: $*"
}

# npm_ci DIR: installs DIR's locked npm packages (npm ci) for a test that
# drives a real client. Returns 0 when installed; 2 when the npm registry
# cannot be reached from this machine (no route, no DNS, or a TLS proxy
# whose certificate this root does not trust, as in a bare debootstrap
# root behind an intercepting proxy), with the reason in NPM_WHY: the
# caller skips that part, saying so; 1 on any other failure (a broken lock
# file fails the test).
#
# What one lock file installs is kept (SLUICE_NPM_CACHE, by default
# ~/.cache/sluice/npm/SHA256-OF-THE-LOCK) and linked into DIR the next
# time: both test runs (plain, sanitizers) and every later run use it. A
# registry found unreachable is remembered there for 30 minutes, so the
# next test skips at once rather than wait out npm's retries again (about
# 90 s each where CI has no route to it).
npm_ci() {
    local dir=$1 sha cache
    sha=$(sha256sum "$dir/package-lock.json" | cut -c1-16)
    cache=${SLUICE_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/npm}/$sha
    mkdir -p "$cache"
    (
        flock 9
        if [ -d "$cache/node_modules" ]; then
            exit 0
        fi
        if [ -n "$(find "$cache" -maxdepth 1 -name unreachable -mmin -30 2>/dev/null)" ]; then
            exit 2
        fi
        cp "$dir/package.json" "$dir/package-lock.json" "$cache/"
        rm -f "$cache/unreachable"
        if (cd "$cache" && npm ci --no-audit --no-fund --loglevel=error --fetch-retry-mintimeout=1000 \
            --fetch-retry-maxtimeout=5000) >"$cache/npm.log" 2>&1; then
            exit 0
        fi
        rm -rf "$cache/node_modules"
        why=$(grep -o -m1 -E 'SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT[A-Z_]*|CERT_[A-Z_]+|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH' \
            "$cache/npm.log")
        if [ -n "$why" ]; then
            echo "$why" >"$cache/unreachable"
            exit 2
        fi
        exit 1
    ) 9>"$cache.lock"
    local rc=$?
    cp "$cache/npm.log" "$dir/npm.log" 2>/dev/null
    case $rc in
    0)
        ln -sfn "$cache/node_modules" "$dir/node_modules"
        return 0
        ;;
    2)
        NPM_WHY="$(cat "$cache/unreachable" 2>/dev/null)"
        return 2
        ;;
    esac
    NPM_WHY=$(tail -5 "$cache/npm.log" 2>/dev/null)
    return 1
}

# A failure after which the rest of the test makes no sense. (In an ACL
# run, what a role was refused may be why: shown.)
die() {
    if [ -n "$ACL_DIR" ] && [ -n "$REDIS_PID" ] && alive "$REDIS_PID"; then
        acl_refusals | sed 's/^/# ACL LOG: /'
    fi
    fail "$*"
    exit 1
}

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
    if [ "$1" = "$2" ]; then
        ok "$3 = $2"
    else
        fail "$3: expected '$1', got '$2'"
    fi
}

# assert_le A B WHAT: integers, A <= B
assert_le() {
    if [ "$1" -le "$2" ] 2>/dev/null; then
        ok "$3 ($1 <= $2)"
    else
        fail "$3: expected $1 <= $2"
    fi
}

# assert_contains HAYSTACK NEEDLE WHAT
assert_contains() {
    case "$1" in
    *"$2"*) ok "$3 (contains '$2')" ;;
    *) fail "$3: '$2' not found in: $(printf '%s' "$1" | head -c 600)" ;;
    esac
}

assert_not_contains() {
    case "$1" in
    *"$2"*) fail "$3: '$2' must not appear in: $(printf '%s' "$1" | head -c 600)" ;;
    *) ok "$3 (no '$2')" ;;
    esac
}

# ---------------------------------------------------------------- time

# (EPOCHREALTIME has 6 decimals; its separator follows the locale)
now_us() { local t=$EPOCHREALTIME; echo "${t/[.,]/}"; }
now_ms() { local t=$EPOCHREALTIME; t=${t/[.,]/}; echo "${t:0:-3}"; }

# ISO-8601 log stamp (2024-01-02T03:04:05.678Z, UTC) -> ms since the epoch
stamp_ms() {
    local s=${1%Z}
    local sec=${s%.*} frac=${s##*.}
    echo $(( $(date -u -d "${sec/T/ }" +%s) * 1000 + 10#$frac ))
}

# wait_until TIMEOUT_S 'shell condition': polls every 50 ms; 1 on timeout.
wait_until() {
    local timeout=$1 cond=$2 frac=000
    case $timeout in *.*) frac=${timeout#*.}000 ;; esac
    local deadline=$(( $(now_ms) + ${timeout%.*} * 1000 + 10#${frac:0:3} ))
    while :; do
        if eval "$cond"; then
            return 0
        fi
        if [ "$(now_ms)" -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.05
    done
}

# ---------------------------------------------------------------- processes

# alive PID: running and not a zombie
alive() {
    local pid=$1 state
    [ -n "$pid" ] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ "$state" != Z ]
}

# stop PID [TIMEOUT_S]: SIGTERM, a bounded wait, then SIGKILL. Sets
# STOP_STATUS to the exit status (128+N when killed by signal N), and
# STOP_KILLED=1 when it had to be killed.
STOP_STATUS=
STOP_KILLED=0
stop() {
    local pid=$1 timeout=${2:-10}
    STOP_STATUS=
    STOP_KILLED=0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    if ! wait_until "$timeout" "! alive $pid"; then
        say "# pid $pid still running ${timeout}s after SIGTERM: SIGKILL"
        STOP_KILLED=1
        kill -KILL "$pid" 2>/dev/null
        wait_until 5 "! alive $pid"
    fi
    reap "$pid"
}

# reap PID: collect the exit status of one of our children that has ended.
reap() {
    local st=0
    wait "$1" 2>/dev/null || st=$?
    STOP_STATUS=$st
    return 0
}

# start_bg NAME LOGFILE CMD...: run CMD in the background, record its pid.
start_bg() {
    local name=$1 log=$2
    shift 2
    "$@" >>"$log" 2>&1 &
    local pid=$!
    ALL_PIDS+=("$pid")
    NAME_PID[$name]=$pid
    LAST_PID=$pid
}

pid_of() { echo "${NAME_PID[$1]:-}"; }
log_of() { echo "$TMP/$1.log"; }

# start_worker NAME ARGS...: sluice-worker in the background, logging to
# $TMP/NAME.log; LAST_PID holds its pid.
start_worker() {
    local name=$1
    shift
    start_bg "$name" "$TMP/$name.log" "$SLUICE_BIN/sluice-worker" --id "$name-$$" "$@"
}

# start_scheduler NAME ARGS...
start_scheduler() {
    local name=$1
    shift
    start_bg "$name" "$TMP/$name.log" "$SLUICE_BIN/sluice-scheduler" --id "$name-$$" "$@"
}

# producer ARGS...: sluice-producer in the foreground; its stderr goes to
# our stderr and is kept in $TMP/producer.log for the sanitizer check.
producer() {
    PRODUCER_RUNS=$((PRODUCER_RUNS + 1))
    local errf="$TMP/producer.$PRODUCER_RUNS.err" rc=0
    "$SLUICE_BIN/sluice-producer" "$@" 2>"$errf" || rc=$?
    cat "$errf" >&2
    cat "$errf" >>"$TMP/producer.log"
    rm -f "$errf"
    return $rc
}

# enqueue ARGS...: one job, prints its id; returns 1 (with a message on
# stderr) when the producer fails. Use as: id=$(enqueue ...) || die "..."
enqueue() {
    local id rc=0
    id=$(producer enqueue "$@") || rc=$?
    if [ "$rc" -ne 0 ] || [ -z "$id" ]; then
        echo "sluice-producer enqueue $* failed (status $rc, output '$id')" >&2
        return 1
    fi
    echo "$id"
}

# ---------------------------------------------------------------- redis

free_port() {
    "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

_redis_launch() {
    redis-server "$REDIS_DIR/redis.conf" >>"$TMP/redis.log" 2>&1 &
    REDIS_PID=$!
    ALL_PIDS+=("$REDIS_PID")
    NAME_PID[redis]=$REDIS_PID
    wait_until 10 "! alive $REDIS_PID || [ \"\$(rcli ping 2>/dev/null)\" = PONG ]"
    alive "$REDIS_PID" && [ "$(rcli ping 2>/dev/null)" = PONG ]
}

# start_redis [--aof]: a private redis-server on a free port of 127.0.0.1,
# config and data in $REDIS_DIR; exports SLUICE_REDIS_URL.
start_redis() {
    [ "${1:-}" = --aof ] && REDIS_AOF=1
    REDIS_DIR=$(mktemp -d "$TMP/redis.XXXXXX")
    [ -z "$ACL_DIR" ] || acl_file >"$ACL_DIR/users.acl"
    local try
    for try in 1 2 3 4 5; do
        REDIS_PORT=$(free_port) || die "no free port"
        {
            echo "port $REDIS_PORT"
            echo "bind 127.0.0.1"
            echo "daemonize no"
            echo "dir $REDIS_DIR"
            echo "save ''"
            echo "logfile ''"
            echo "databases 2"
            [ -z "$ACL_DIR" ] || echo "aclfile $ACL_DIR/users.acl"
            if [ "$REDIS_AOF" = 1 ]; then
                echo "appendonly yes"
                echo "appendfsync everysec"
            else
                echo "appendonly no"
            fi
        } >"$REDIS_DIR/redis.conf"
        if _redis_launch; then
            [ -z "$ACL_DIR" ] || echo "$REDIS_PORT" >"$ACL_DIR/port"
            export SLUICE_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
            return 0
        fi
        stop "$REDIS_PID" 2
        say "# redis-server did not start on port $REDIS_PORT (try $try)"
    done
    tail -20 "$TMP/redis.log"
    die "redis-server does not start"
}

# restart_redis: SIGTERM (redis writes its AOF on shutdown), wait for it to
# exit, start it again with the same port, directory and AOF setting.
restart_redis() {
    stop "$REDIS_PID" 15
    [ "$STOP_KILLED" = 0 ] || fail "redis-server needed SIGKILL to stop"
    local try
    for try in 1 2 3 4 5 6 7 8 9 10; do
        _redis_launch && return 0
        stop "$REDIS_PID" 2
        sleep 0.2 # the port may linger for a moment; this is a retry pause, not a sync
    done
    tail -20 "$TMP/redis.log"
    die "redis-server does not restart on port $REDIS_PORT"
}

# acl_file: deploy/users.acl for this test (see "ACL run" above).
acl_file() {
    local line role
    while IFS= read -r line; do
        case $line in
        "user default "*)
            echo "user default on nopass ~* &* +@all"
            continue
            ;;
        "user sluice-"*)
            role=${line#user sluice-}
            role=${role%% *}
            line="$line >$(cat "$ACL_DIR/$role.pass")"
            ;;
        esac
        # every pattern twice: PREFIX: (exact, as PSUBSCRIBE needs) and
        # PREFIX-*: (the second prefix of some tests)
        printf '%s\n' "$line" |
            sed -E -e "s/ ([%RW]*[~&])sluice:([^ ]*)/ \1$SLUICE_PREFIX:\2 \1$SLUICE_PREFIX-*:\2/g"
    done <"$(dirname "${BASH_SOURCE[0]}")/../../deploy/users.acl"
}

# acl_url ROLE: this test's Redis as ROLE (for the tests of refusals)
acl_url() { echo "redis://sluice-$1:$(cat "$ACL_DIR/$1.pass")@127.0.0.1:$REDIS_PORT/0"; }

# acl_cli ROLE ARGS...: redis-cli as ROLE (the password through the
# environment, not the command line)
acl_cli() {
    local role=$1
    shift
    REDISCLI_AUTH=$(cat "$ACL_DIR/$role.pass") redis-cli -p "$REDIS_PORT" --user "sluice-$role" "$@"
}

# acl_refusals: what Redis's ACL LOG says a role was refused, a line each
# (raw replies: an entry is pairs of lines, "count" first)
acl_refusals() {
    rcli ACL LOG 128 | awk '
        NR % 2 == 1 { k = $0; next }
        k == "count" { n = $0 } k == "reason" { r = $0 } k == "context" { c = $0 }
        k == "object" { o = $0 }
        k == "username" && $0 ~ /^sluice-/ { printf "%s refused %s %s (in %s, %s times)\n", $0, r, o, c, n }'
}

# acl_check_end: no role was refused anything (Redis's ACL LOG), and no
# file the test wrote holds a password.
acl_check_end() {
    [ -n "$ACL_DIR" ] || return 0
    if [ -n "$REDIS_PID" ] && alive "$REDIS_PID"; then
        local refused
        refused=$(acl_refusals)
        if [ -z "$refused" ]; then
            ok "ACL LOG: no role was refused anything"
        else
            fail "ACL LOG: $(printf '%s' "$refused" | head -20 | tr '\n' ';')"
        fi
    fi
    local role leaked=""
    for role in $ACL_ROLES; do
        if grep -rlF --exclude-dir=acl "$(cat "$ACL_DIR/$role.pass")" "$TMP" >/dev/null 2>&1; then
            leaked="$leaked $role($(grep -rlF --exclude-dir=acl "$(cat "$ACL_DIR/$role.pass")" "$TMP" | head -3 | tr '\n' ' '))"
        fi
    done
    if [ -z "$leaked" ]; then
        ok "no password of a role in any log or output"
    else
        fail "passwords found in:$leaked"
    fi
}

# ---------------------------------------------------------------- keys

# k SUFFIX [QUEUE]: a key of queue QUEUE (default $Q) under this test's prefix
Q=q
k() { echo "$SLUICE_PREFIX:{${2:-$Q}}:$1"; }

stat_of() { # stat_of FIELD [QUEUE]
    local v
    v=$(rcli hget "$(k stats "${2:-$Q}")" "$1")
    echo "${v:-0}"
}

zcard() { rcli zcard "$(k "$1" "${2:-$Q}")"; }
llen() { rcli llen "$(k "ready:$1" "${2:-$Q}")"; }

ready_total() {
    local q=${1:-$Q} n=0 p
    for p in critical high normal low; do
        n=$((n + $(llen $p "$q")))
    done
    echo $n
}

job_body() { rcli get "$(k "job:$1" "${2:-$Q}")"; }

# json_get JSON FIELD: a top-level field of a JSON document (strings bare)
json_get() {
    "$PY" -c '
import json, sys
try:
    d = json.loads(sys.argv[1])
except Exception:
    sys.exit(0)
v = d.get(sys.argv[2]) if isinstance(d, dict) else None
if v is None:
    sys.exit(0)
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}

# ---------------------------------------------------------------- the end

# Sanitizer reports in any log fail the test.
check_sanitizers() {
    local f
    for f in "$TMP"/*.log; do
        [ -e "$f" ] || continue
        if grep -qE 'ERROR: [A-Za-z]+Sanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer' "$f"; then
            fail "sanitizer report in $(basename "$f")"
            grep -E -A30 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$f" | head -60 | sed 's/^/#   /'
        fi
    done
}

# assert_nothing_running: every process the test started is gone. Stops
# redis first (the last thing a test leaves running on purpose).
assert_nothing_running() {
    acl_check_end
    if [ -n "$REDIS_PID" ] && alive "$REDIS_PID"; then
        stop "$REDIS_PID"
    fi
    local pid left=""
    for pid in "${ALL_PIDS[@]}"; do
        if alive "$pid"; then
            left="$left $pid($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-60))"
        fi
    done
    if [ -z "$left" ]; then
        ok "nothing left running (${#ALL_PIDS[@]} processes started)"
    else
        fail "still running:$left"
    fi
}

finish() {
    check_sanitizers
    if [ "$FAILS" -gt 0 ]; then
        say "$T_NAME: $FAILS of $CHECKS checks failed"
        exit 1
    fi
    say "$T_NAME: all $CHECKS checks passed"
    exit 0
}

_cleanup() {
    local st=$? pid
    trap - EXIT
    for pid in "${ALL_PIDS[@]}"; do
        alive "$pid" && kill -KILL "$pid" 2>/dev/null
    done
    for pid in "${ALL_PIDS[@]}"; do
        wait_until 5 "! alive $pid" || true
    done
    if [ "$st" -ne 0 ]; then
        local f
        for f in "$TMP"/*.log; do
            [ -s "$f" ] || continue
            say "# ---- last lines of $(basename "$f")"
            grep -v 'WARNING Memory overcommit' "$f" | tail -n 15 | sed 's/^/#   /'
        done
    fi
    if [ -n "${SLUICE_KEEP_TMP:-}" ]; then
        say "# kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$st"
}
trap _cleanup EXIT
trap 'say "# interrupted"; exit 143' TERM INT HUP

# The fake Discord/Telegram platform (tests/fake).
FAKE=${FAKE:-$SLUICE_BIN/sluice-fake-platform}

# start_fake NAME ARGS...: the fake in the background; its port comes from
# the first line of its stdout ("listening 127.0.0.1:PORT"), read with a
# bounded wait. Sets FAKE_PID, PORT and U (the base URL).
start_fake() {
    local name=$1
    shift
    "$FAKE" "$@" >"$TMP/$name.out" 2>>"$TMP/$name.log" &
    FAKE_PID=$!
    ALL_PIDS+=("$FAKE_PID")
    NAME_PID[$name]=$FAKE_PID
    wait_until 15 "grep -q '^listening ' '$TMP/$name.out' || ! alive $FAKE_PID" ||
        die "$name printed no 'listening' line within 15 s"
    PORT=$(sed -n '1s/^listening 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$TMP/$name.out")
    [ -n "$PORT" ] || die "$name did not start: $(head -c 300 "$TMP/$name.out" "$TMP/$name.log")"
    U="http://127.0.0.1:$PORT"
}

# use_discord_fake TOKEN: workers started after this use the fake (started
# with start_fake) as Discord, with TOKEN in a private token file.
use_discord_fake() {
    printf '%s\n' "$1" >"$TMP/discord.token"
    chmod 600 "$TMP/discord.token"
    export SLUICE_DISCORD_TOKEN_FILE="$TMP/discord.token" SLUICE_DISCORD_API="$U/api/v10"
}

# discord_jobs FILE COUNT CHANNELS FIRST_CHANNEL TEXT: COUNT message jobs
# for queue $Q, spread over CHANNELS channels numbered from FIRST_CHANNEL,
# as NDJSON in FILE.
discord_jobs() {
    "$PY" -c '
import json, sys
n, chans, first, text, q = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
for i in range(n):
    print(json.dumps({"type": "message", "queue": q, "payload": {"platform": "discord",
        "channel_id": str(first + i % chans), "content": "%s %d" % (text, i)}}))
' "$2" "$3" "$4" "$5" "$Q" >"$1"
}
