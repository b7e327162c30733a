# t_serve_wait: GET /v1/jobs/ID?wait=S holds the answer until the job
# ends, woken by Redis pub/sub (PREFIX:{Q}:finished), never by polling:
# answered at once for a job that ended already, at the end of S for one
# that does not end, on the message for one that does (done, dead), with
# its result; by a real worker's ack and fail; and
# 5,000 waiting requests at once cost no Redis commands while they wait
# and are all released by the messages.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

start_redis
: >"$TMP/tokens"
new_token all
new_token scoped --queues other
start_intake --tokens-file "$TMP/tokens"
CH="$SLUICE_PREFIX:{$Q}:finished"
wait_until 10 "[ \"\$(rcli pubsub numpat)\" -ge 1 ]" || die "the intake did not subscribe"

# end_job ID STATE [EXTRA JSON FIELDS]: what ack.lua / fail.lua do to a
# ready job, by hand: the body rewritten, the id moved, the message sent
end_job() {
    local id=$1 state=$2 extra=${3:-}
    local set=done
    [ "$state" = dead ] && set=dead
    rcli eval "
        redis.call('LREM', KEYS[1], 0, ARGV[1])
        local t = redis.call('TIME')
        redis.call('ZADD', KEYS[2], t[1] * 1000, ARGV[1])
        local doc = cjson.decode(redis.call('GET', KEYS[3]))
        local extra = cjson.decode(ARGV[3])
        for k, v in pairs(extra) do doc[k] = v end
        redis.call('SET', KEYS[3], cjson.encode(doc))
        extra.id = ARGV[1]
        extra.state = ARGV[2]
        return redis.call('PUBLISH', KEYS[4], cjson.encode(extra))
    " 4 "$(k ready:normal)" "$(k "$set")" "$(k "job:$id")" "$CH" "$id" "$state" "{${extra}}" \
        >/dev/null
}

post_one() {
    post_json /v1/jobs "$TOK_all" "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{}$1}"
    [ "$CODE" = 201 ] || die "POST failed: $CODE $BODY"
    jq_of .id
}

# bg_wait ID S NAME: GET ?wait=S in the background, answer in $TMP/NAME
bg_wait() {
    curl -s -o "$TMP/$3" -w '%{http_code} %{time_total}' -H "Authorization: Bearer $TOK_all" \
        "$I/v1/jobs/$1?wait=$2" >"$TMP/$3.code" &
    BG=$!
}

# ---- a job that does not end: answered when S runs out, with its state
id=$(post_one ',"delay_ms":600000')
t0=$(now_ms)
req GET "/v1/jobs/$id?wait=1" "$TOK_all"
t1=$(now_ms)
assert_eq 200 "$CODE" "?wait=1 on a delayed job"
assert_eq delayed "$(jq_of .state)" "its state when the wait ran out"
assert_le 1000 $((t1 - t0)) "ms before the answer"
req GET "/v1/jobs/$id?wait=61" "$TOK_all"
assert_eq 400 "$CODE" "?wait=61"

# a token without the job's queue: 404 at once, not after the wait
req GET "/v1/jobs/$id?wait=30" "$TOK_scoped" --max-time 10
assert_eq 404 "$CODE" "?wait=30 with a token without the job's queue"

# ---- woken by completion: the answer comes on the message, with the result
id=$(post_one '')
bg_wait "$id" 30 done1
sleep 0.5 # the request is waiting: shown next by curl still running
alive $BG && ok "the request waits" || fail "the request did not wait"
cmds0=$(rcli info stats | sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p')
sleep 1.5
cmds1=$(rcli info stats | sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p')
assert_le $((cmds1 - cmds0)) 1 "redis commands while one request waits (the INFO only)"
end_job "$id" done '"result":{"message_id":"42"}'
wait_until 10 "! alive $BG" || fail "not answered after the finish message"
wait "$BG"
read -r code secs <"$TMP/done1.code"
assert_eq 200 "$code" "woken by completion: status"
assert_eq done "$(jq -r .state "$TMP/done1")" "woken by completion: state"
assert_eq 42 "$(jq -r .result.message_id "$TMP/done1")" "woken by completion: the result"
say "# answered ${secs}s after the request (30 s wait)"

# ---- woken by death
id=$(post_one '')
bg_wait "$id" 30 dead1
sleep 0.5
end_job "$id" dead '"last_error":"permanent: 403 Missing Access"'
wait_until 10 "! alive $BG" || fail "not answered after the death message"
wait "$BG"
assert_eq dead "$(jq -r .state "$TMP/dead1")" "woken by death: state"
assert_eq "permanent: 403 Missing Access" "$(jq -r .last_error "$TMP/dead1")" "the last error"

# ---- a job that ended already: at once
req GET "/v1/jobs/$id?wait=30" "$TOK_all"
assert_eq dead "$(jq_of .state)" "?wait on a dead job answers at once"

# ---- a real worker: its ack and fail calls publish the finish
id=$(post_one '')
bad=$(post_json /v1/jobs "$TOK_all" "{\"type\":\"fail\",\"queue\":\"$Q\",\"payload\":{\"permanent\":true}}"; jq_of .id)
bg_wait "$id" 30 w_done
p1=$BG
bg_wait "$bad" 30 w_dead
p2=$BG
sleep 0.5
start_worker w1 --redis-url "redis://127.0.0.1:$REDIS_PORT" --queues "$Q"
wait_until 20 "! alive $p1 && ! alive $p2" || fail "not answered after the worker ran the jobs"
wait "$p1" "$p2"
assert_eq done "$(jq -r .state "$TMP/w_done")" "a real worker: done"
assert_eq dead "$(jq -r .state "$TMP/w_dead")" "a real worker: dead"
assert_contains "$(jq -r .last_error "$TMP/w_dead")" "permanent" "a real worker: the last error"
stop "$(pid_of w1)"

# ---- 5,000 waiting requests
N=5000
"$PY" -c "
import json
print(json.dumps({'jobs': [{'type': 'noop', 'queue': '$Q', 'payload': {}, 'delay_ms': 600000}] * 1000}))" \
    >"$TMP/1000.json"
: >"$TMP/ids"
for i in 1 2 3 4 5; do
    post_json /v1/jobs "$TOK_all" "@$TMP/1000.json"
    jq_of '.ids[]' >>"$TMP/ids"
done
assert_eq $N "$(wc -l <"$TMP/ids")" "delayed jobs to wait on"
say "# before the waiters: RSS $(awk '/^VmRSS/ {print $2}' "/proc/$INTAKE_PID/status") kB"
"$PY" "$(dirname "$0")/serve_waiters.py" "$INTAKE_PORT" "$TOK_all" "$Q" "$TMP/ids" 60 \
    "$TMP/sent" "$TMP/answers" >"$TMP/waiters.log" 2>&1 &
WPID=$!
wait_until 60 "[ -e '$TMP/sent' ]" || die "the client did not send its requests"
# every request has reached the intake once its look-ups stop
cmds() { rcli info stats | sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p'; }
quiet() {
    local a b
    a=$(cmds)
    sleep 1
    b=$(cmds)
    [ $((b - a)) -le 1 ]
}
wait_until 60 quiet || fail "redis commands did not stop while $N requests wait"
cpu0=$(awk '{print $14 + $15}' "/proc/$INTAKE_PID/stat")
cmds0=$(cmds)
sleep 2
cmds1=$(cmds)
cpu1=$(awk '{print $14 + $15}' "/proc/$INTAKE_PID/stat")
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$INTAKE_PID/status")
alive $WPID && ok "the $N requests wait" || fail "the client ended early: $(tail -3 "$TMP/waiters.log")"
assert_le $((cmds1 - cmds0)) 1 "redis commands in 2 s while $N requests wait (the INFO only)"
say "# $N waiting: intake CPU $((cpu1 - cpu0)) ticks in 2 s, RSS ${rss} kB"
# all end: 10 messages of 500 NDJSON lines
rcli eval "
    local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
    local t = redis.call('TIME')
    local lines = {}
    for i, id in ipairs(ids) do
        redis.call('ZREM', KEYS[1], id)
        redis.call('ZADD', KEYS[2], t[1] * 1000, id)
        lines[#lines + 1] = cjson.encode({id = id, state = 'done'})
        if #lines == 500 or i == #ids then
            redis.call('PUBLISH', KEYS[3], table.concat(lines, '\n'))
            lines = {}
        end
    end
    return #ids" 3 "$(k delayed)" "$(k done)" "$CH" >/dev/null
wait_until 60 "! alive $WPID" || fail "the waiters were not all released"
wait "$WPID"
assert_eq $N "$(grep -c '^200 done$' "$TMP/answers")" "requests answered 200 done"

stop "$INTAKE_PID"
assert_eq 0 "$STOP_STATUS" "the intake's exit status"
assert_nothing_running
finish
