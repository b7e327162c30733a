# t_producer_edges: the producer never leaves a frontend guessing (issue
# 9), and the other binaries share its option parsing and Redis logging:
#   - an unknown command or option is an error (exit 2, one line naming it,
#     then the usage line; nothing on stdout) even with --help, for every
#     binary;
#   - lines piped in are enqueued while the pipe is still open; with its
#     output closed the producer stops (it cannot deliver the ids);
#   - a hung Redis says "timed out", after how long, and which option;
#   - Redis killed mid-bulk: every printed id is stored, every stored job
#     was printed or named as "sent without an answer", and no line named
#     "not stored" is in Redis;
#   - a password in --redis-url is gone from /proc/PID/cmdline and ps, and
#     so are the fake platform's --discord-token and --telegram-token;
#   - a worker with a wrong password logs a few lines, not 22 per attempt.
. "$(dirname "$0")/lib.sh"

start_redis --aof
trap '' PIPE # a producer that gave up closes the fifo: writing to it then fails, no more

run_p() {
    RC=0
    producer "$@" >"$TMP/p.out" 2>"$TMP/p.err" || RC=$?
    OUT=$(cat "$TMP/p.out")
    ERR=$(cat "$TMP/p.err")
}

# ---- unknown commands and options
run_p frobnicate --help
assert_eq 2 "$RC" "exit status, sluice-producer frobnicate --help"
assert_contains "$ERR" 'unknown command "frobnicate"' "the unknown command is named"
assert_contains "$ERR" "usage: sluice-producer" "the usage follows"
assert_eq "" "$OUT" "no help on stdout for frobnicate --help"
# serve is the HTTP intake's command (t_serve): its own help
run_p serve --help
assert_eq 0 "$RC" "exit status, sluice-producer serve --help"
assert_contains "$OUT" "usage: sluice-producer serve" "serve --help is the intake's"
run_p enqueue --type noop --help --bogus
assert_eq 2 "$RC" "exit status, --bogus after --help"
assert_contains "$ERR" '--bogus' "the unknown option is named"
# usage_error NAME NAMED ARGS...: sluice-NAME ARGS fails with exit 2, one
# line on stderr naming NAMED, then its usage line, and nothing on stdout
usage_error() {
    local b=$1 named=$2 rc=0
    shift 2
    "$SLUICE_BIN/sluice-$b" "$@" >"$TMP/b.out" 2>"$TMP/b.err" </dev/null || rc=$?
    assert_eq 2 "$rc" "exit status, sluice-$b $*"
    assert_contains "$(sed -n 1p "$TMP/b.err")" "$named" "sluice-$b $*: the first line names it"
    assert_contains "$(sed -n 2p "$TMP/b.err")" "usage: sluice-$b " "sluice-$b $*: the usage line follows"
    assert_eq 2 "$(grep -c . "$TMP/b.err")" "sluice-$b $*: lines on stderr"
    assert_eq 0 "$(grep -c . "$TMP/b.out")" "sluice-$b $*: lines on stdout (no help)"
}
for b in producer worker scheduler bench ctl fake-platform; do
    cmd=serve
    [ "$b" = producer ] && cmd=frobnicate # sluice-producer serve is the intake
    usage_error "$b" "\"$cmd\"" "$cmd" --help
    usage_error "$b" "\"$cmd\"" "$cmd"
    usage_error "$b" '"--bogus"' --bogus
    usage_error "$b" '"--bogus"' --help --bogus
done
usage_error ctl '"--bogus"' stats --bogus
usage_error ctl '"b"' show a b
usage_error bench '"io"' noop io

# the fake platform's tokens are taken out of argv before parsing: blanked too
start_fake fake --discord-token "disc-sekrit-$$" --telegram-token="123:tg-sekrit-$$" --discord-token "disc2-sekrit-$$"
args=$(tr '\0' ' ' </proc/$FAKE_PID/cmdline)
assert_not_contains "$args" "sekrit" "the fake's /proc/PID/cmdline"
assert_not_contains "$(ps -o args= -p "$FAKE_PID")" "sekrit" "the fake's ps line"
assert_contains "$args" "--telegram-token=***" "the fake's blanked token"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bot disc2-sekrit-$$" \
    -H 'User-Agent: DiscordBot (https://example.org, 1)' "$U/api/v10/guilds/1/channels")
assert_eq 200 "$code" "the fake accepts the token blanked in its argv"
assert_contains "$(cat "$(log_of fake)")" "discord_bots=2 telegram_bots=1" "the fake's tokens"
stop "$FAKE_PID"

# ---- a pipe held open: each line is enqueued without waiting for more
mkfifo "$TMP/in.fifo"
"$SLUICE_BIN/sluice-producer" enqueue --ndjson - <"$TMP/in.fifo" >"$TMP/pipe.out" 2>>"$TMP/pipe.log" &
PIPE_PID=$!
ALL_PIDS+=("$PIPE_PID")
exec 3>"$TMP/in.fifo"
for i in 1 2 3; do
    printf '{"type":"noop","queue":"pipe","payload":{"i":%d}}\n' "$i" >&3
done
wait_until 10 '[ "$(ready_total pipe)" = 3 ]' &&
    ok "3 jobs in Redis while the pipe is still open" ||
    fail "$(ready_total pipe) of 3 piped jobs in Redis after 10 s with the pipe open"
wait_until 10 '[ "$(grep -c . "$TMP/pipe.out")" = 3 ]' &&
    ok "3 ids printed while the pipe is still open" ||
    fail "$(grep -c . "$TMP/pipe.out") of 3 ids printed with the pipe open"
alive "$PIPE_PID" && ok "the producer still reads the pipe" || fail "the producer ended"
printf '{"type":"noop","queue":"pipe","payload":{"i":4}}\n' >&3
wait_until 10 '[ "$(ready_total pipe)" = 4 ]' && ok "a 4th line enqueued alone" ||
    fail "the 4th piped job is not in Redis"
exec 3>&-
wait_until 10 "! alive $PIPE_PID" || fail "the producer did not end with its input"
reap "$PIPE_PID"
assert_eq 0 "$STOP_STATUS" "exit status after the pipe closed"
assert_eq 4 "$(grep -c . "$TMP/pipe.out")" "ids printed for the pipe"

# ---- nobody reads the ids: the producer stops instead of enqueueing blind
"$PY" -c '
for i in range(1, 100001):
    print("{\"type\":\"noop\",\"queue\":\"blind\",\"payload\":{\"i\":%d}}" % i)' >"$TMP/blind.ndjson"
"$SLUICE_BIN/sluice-producer" enqueue --ndjson "$TMP/blind.ndjson" 2>>"$TMP/blind.log" | head -1 >/dev/null
assert_eq 2 "${PIPESTATUS[0]}" "exit status, standard output closed"
assert_contains "$(cat "$TMP/blind.log")" "cannot write ids to standard output" "closed output reported"
[ "$(ready_total blind)" -lt 100000 ] && ok "stopped reading ($(ready_total blind) of 100000 enqueued)" ||
    fail "all 100000 lines enqueued with nobody reading the ids"

# ---- a hung Redis
kill -STOP "$REDIS_PID"
run_p enqueue --type noop --queue hung --payload '{}' --redis-timeout-ms 1000
kill -CONT "$REDIS_PID"
assert_eq 2 "$RC" "exit status, hung Redis"
assert_contains "$ERR" "timed out" "the message says it timed out"
assert_contains "$ERR" "1.0 s" "the message says after how long"
assert_contains "$ERR" "--redis-timeout-ms" "the message names the option"
assert_not_contains "$ERR" "Resource temporarily unavailable" "message"

# Redis hangs in the middle of a piped run: line 1 is stored, line 2 not answered
"$SLUICE_BIN/sluice-producer" enqueue --ndjson - --redis-timeout-ms 1000 <"$TMP/in.fifo" \
    >"$TMP/hang.out" 2>>"$TMP/hang.log" &
HANG_PID=$!
ALL_PIDS+=("$HANG_PID")
exec 3>"$TMP/in.fifo"
printf '{"type":"noop","queue":"hang","payload":{"i":1}}\n' >&3
wait_until 10 '[ "$(grep -c . "$TMP/hang.out")" = 1 ]' || fail "line 1's id not printed"
kill -STOP "$REDIS_PID"
printf '{"type":"noop","queue":"hang","payload":{"i":2}}\n' >&3
wait_until 15 "! alive $HANG_PID" || fail "the producer did not give up on a hung Redis"
kill -CONT "$REDIS_PID"
exec 3>&-
reap "$HANG_PID"
assert_eq 2 "$STOP_STATUS" "exit status, Redis hung mid-run"
herr=$(cat "$TMP/hang.log")
assert_contains "$herr" "--redis-timeout-ms" "mid-run timeout names the option"
assert_contains "$herr" "stored: lines 1-1" "line 1 reported stored"
assert_contains "$herr" "may or may not be stored: line 2" "line 2 reported unanswered"

# ---- Redis killed in the middle of a bulk run (AOF fsync always: every
# answered write is on disk)
rcli config set appendfsync always >/dev/null
# (line 1 goes to a queue of its own: it must not hold back the later ids)
"$PY" -c '
for i in range(1, 200001):
    q = "kill-1" if i == 1 else "kill"
    print("{\"type\":\"noop\",\"queue\":\"%s\",\"payload\":{\"i\":%d}}" % (q, i))' >"$TMP/kill.ndjson"
"$SLUICE_BIN/sluice-producer" enqueue --ndjson "$TMP/kill.ndjson" >"$TMP/kill.out" 2>>"$TMP/kill.log" &
KILL_PID=$!
ALL_PIDS+=("$KILL_PID")
wait_until 60 '[ "$(grep -c . "$TMP/kill.out")" -ge 3000 ]' || die "no 3000 ids printed in 60 s"
kill -KILL "$REDIS_PID"
wait_until 30 "! alive $KILL_PID" || fail "the producer did not end after Redis died"
reap "$KILL_PID"
assert_eq 2 "$STOP_STATUS" "exit status, Redis killed mid-run"
printed=$(grep -c . "$TMP/kill.out")
say "# $printed ids printed before Redis died"
[ "$printed" -lt 200000 ] && ok "killed mid-run" || fail "the run ended before the kill"
kerr=$(cat "$TMP/kill.log")
assert_contains "$kerr" "stored: lines 1-" "the summary names the stored lines"
assert_contains "$kerr" "not stored:" "the summary names the lines not stored"
restart_redis
if "$PY" - "$TMP/kill.out" "$TMP/kill.log" "$REDIS_PORT" "$SLUICE_PREFIX:{kill*}:job:*" >"$TMP/kill.check" <<'PYEOF'; then
import json, re, socket, sys
out, log, port, pattern = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
printed = [x for x in open(out).read().split("\n") if x]
text = open(log).read()
def ranges(label):
    m = re.search(label + r"[^\n]*", text)
    got, tail = [], None
    if not m:
        return got, tail
    for a, b in re.findall(r"lines? (\d+)(?:-(\d+))?", m.group(0)):
        got.append((int(a), int(b or a)))
    t = re.search(r"line (\d+) to the end of the input", m.group(0))
    return got, (int(t.group(1)) if t else None)
unknown, _ = ranges("may or may not be stored:")
unsent, tail = ranges("not stored:")
extra = {int(n): i for n, i in re.findall(r"line (\d+): stored, id (\S+)", text)}
s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb")
def cmd(*args):
    s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    return read()
def read():
    h = f.readline()
    if h[:1] == b"*":
        return [read() for _ in range(int(h[1:]))]
    if h[:1] == b"$":
        n = int(h[1:]);  return None if n < 0 else f.read(n + 2)[:-2]
    return h[1:].strip()
keys, cur = [], b"0"
while True:
    cur, batch = cmd(b"SCAN", cur, b"MATCH", pattern.encode(), b"COUNT", b"10000")
    keys += batch
    if cur == b"0":
        break
stored = {}
for i in range(0, len(keys), 1000):
    for body in cmd(b"MGET", *keys[i:i + 1000]):
        d = json.loads(body); stored[d["id"]] = d["payload"]["i"]
bad = []
for n, jid in enumerate(printed, 1):
    if stored.get(jid) != n:
        bad.append("printed id %s (line %d) is %s in Redis" % (jid, n, "missing" if jid not in stored else "line %s" % stored.get(jid)))
inr = lambda n, rs: any(a <= n <= b for a, b in rs)
pset = set(printed)
for jid, n in stored.items():
    if jid in pset or extra.get(n) == jid or inr(n, unknown):
        continue
    bad.append("line %d stored as %s, neither printed nor named unanswered" % (n, jid))
for jid, n in stored.items():
    if inr(n, unsent) or (tail and n >= tail):
        bad.append("line %d reported not stored, yet stored" % n)
print("%d printed, %d stored, unanswered %s, not stored %s and from %s" % (len(printed), len(stored), unknown, unsent, tail))
for b in bad[:10]:
    print("BAD " + b)
sys.exit(1 if bad else 0)
PYEOF
    ok "Redis killed mid-run: $(cat "$TMP/kill.check")"
else
    fail "Redis killed mid-run: $(head -c 2000 "$TMP/kill.check")"
fi
rcli config set appendfsync everysec >/dev/null

# ---- passwords: never in ps, never in a log
PW=s3cret-pw-9
rcli config set requirepass "$PW" >/dev/null
export REDISCLI_AUTH=$PW
URL="redis://:$PW@127.0.0.1:$REDIS_PORT/0"
"$SLUICE_BIN/sluice-producer" enqueue --ndjson - --redis-url "$URL" <"$TMP/in.fifo" \
    >"$TMP/pw.out" 2>>"$TMP/pw.log" &
PW_PID=$!
ALL_PIDS+=("$PW_PID")
start_worker wpw --queues pw --redis-url "$URL"
start_scheduler spw --redis-url="$URL"
exec 3>"$TMP/in.fifo" # after starting them: they must not hold the pipe open
printf '{"type":"noop","queue":"pw","payload":{}}\n' >&3
wait_until 10 '[ "$(grep -c . "$TMP/pw.out")" = 1 ]' || fail "the producer with a password stored nothing"
for name in PW_PID wpw spw; do
    pid=${!name:-$(pid_of $name)}
    wait_until 5 "tr '\\0' ' ' </proc/$pid/cmdline | grep -q 'redis://:\\*\\*\\*@127.0.0.1'" ||
        fail "$name: the url in /proc/$pid/cmdline was not blanked: $(tr '\0' ' ' </proc/$pid/cmdline)"
    assert_not_contains "$(tr '\0' ' ' </proc/$pid/cmdline)" "$PW" "$name /proc/PID/cmdline"
    assert_not_contains "$(ps -o args= -p "$pid")" "$PW" "$name ps"
done
wait_until 10 '[ "$(stat_of processed pw)" = 1 ]' || fail "the worker with the password ran nothing"
exec 3>&-
wait_until 10 "! alive $PW_PID" || fail "the producer did not end"
reap "$PW_PID"
assert_eq 0 "$STOP_STATUS" "exit status, producer with a password"
stop "$(pid_of wpw)"
stop "$(pid_of spw)"

# a wrong password: a worker retries with backoff; it says what is wrong once
# per connection (then a reminder every 30 s), never the password
conns() { rcli info stats | tr -d '\r' | sed -n 's/^total_connections_received://p'; }
before=$(conns)
start_worker wbad --queues pw --redis-url "redis://:wrong-pw-7@127.0.0.1:$REDIS_PORT/0"
wait_until 30 '[ $(( $(conns) - before )) -ge 12 ]' || fail "the worker did not retry 12 times in 30 s"
say "# $(( $(conns) - before )) connections tried with the wrong password"
stop "$(pid_of wbad)"
wlog=$(cat "$(log_of wbad)")
assert_contains "$wlog" "WRONGPASS" "the log names the problem"
assert_not_contains "$wlog" "wrong-pw-7" "wrong-password log"
assert_le "$(grep -c . "$(log_of wbad)")" 8 "log lines of a worker with a wrong password (12+ attempts)"
for f in "$TMP"/*.log; do
    grep -q "$PW" "$f" && fail "the password is in $(basename "$f")"
done
ok "no log holds the password"

assert_nothing_running
finish
