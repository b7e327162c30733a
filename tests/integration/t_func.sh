# t_func: enqueue through the Redis Function library (FCALL sluice_enqueue),
# as a frontend in any language would, with redis-cli:
#  - sluice-ctl install: --check before, installed, then already at version;
#    FCALL_RO sluice_job reads a job's state and envelope
#  - one job of each type the workers run (noop, sleep, message, pdf,
#    interview, fail) runs through a real worker against the fake platform:
#    done, or dead for fail; a delayed job is promoted by the scheduler
#  - idempotency key: the first id again, one job; delay_ms, run_at_ms and
#    priorities land where the CLI puts them; several envelopes give ids in
#    order; a batch opened by sluice-producer takes FCALL jobs and completes
#  - every structural error is an error reply naming the field, and a call
#    with one bad envelope among several stores nothing
. "$(dirname "$0")/lib.sh"

TOKEN="func-$$-discord-secret"
CTL=$SLUICE_BIN/sluice-ctl
start_redis
start_fake fake --discord-token "$TOKEN" --global-limit 0 --bucket-limit 0
use_discord_fake "$TOKEN"

# fcall QUEUE ENVELOPE...: FCALL sluice_enqueue on queue QUEUE; prints the reply
fcall() {
    local q=$1
    shift
    rcli fcall sluice_enqueue 1 "$SLUICE_PREFIX:{$q}" "$@"
}
state_of() { # state_of ID QUEUE
    "$CTL" show "$1" --queue "$2" --json 2>/dev/null | jq -r .state
}

# ---------------------------------------------------------------- install

out=$("$CTL" install --check 2>&1)
assert_eq 1 "$?" "install --check exit status before install"
assert_contains "$out" "not loaded" "install --check before install"
assert_contains "$(fcall noop '{"type":"noop","payload":{}}' 2>&1)" "Function not found" \
    "FCALL before install"
V=$("$CTL" install --print | sed -n 's/^local SLUICE_VERSION = \([0-9]*\).*/\1/p')
assert_eq "sluice function library: installed version $V" "$("$CTL" install 2>&1)" "first install"
assert_eq "sluice function library: already at version $V" "$("$CTL" install 2>&1)" "second install"
"$CTL" install --check >/dev/null 2>&1
assert_eq 0 "$?" "install --check exit status after install"
assert_eq "$V" "$(rcli fcall_ro sluice_version 0)" "FCALL_RO sluice_version"

# ---------------------------------------------------------------- each type

mkdir -p "$TMP/pdf"
start_worker w1 --queues noop,sleep,message,pdf,interview,fail --concurrency 20 \
    --pdf-dir "$TMP/pdf" --retention-ms 600000
start_scheduler s1
declare -A IDS
IDS[noop]=$(fcall noop '{"type":"noop","payload":{"n":1}}')
IDS[sleep]=$(fcall sleep '{"type":"sleep","payload":{"ms":20}}')
IDS[message]=$(fcall message '{"type":"message","priority":"high","payload":{"platform":"discord","channel_id":"4242","content":"hello from FCALL"}}')
IDS[pdf]=$(fcall pdf '{"type":"pdf","payload":{"document":{"title":"From FCALL"},"deliver":{"file":{"name":"fcall.pdf"}}}}')
IDS[interview]=$(fcall interview '{"type":"interview","payload":{"guild_id":"9","user_id":"9001","application_id":"app-9001","reviewer_role_id":"77","intro":{"template":"Hello {user}"},"followup":{"reminders":0},"approval":{"role_id":"555"}}}')
IDS[fail]=$(fcall fail '{"type":"fail","max_attempts":1,"payload":{"permanent":true}}')
delayed=$(fcall noop '{"type":"noop","delay_ms":300,"payload":{"delayed":true}}')
for t in noop sleep message pdf interview fail; do
    [[ ${IDS[$t]} =~ ^[0-9A-Z]{26}$ ]] && ok "$t: FCALL gave id ${IDS[$t]}" || fail "$t: FCALL replied '${IDS[$t]}'"
done
for t in noop sleep message pdf interview; do
    wait_until 20 "[ \"\$(state_of ${IDS[$t]} $t)\" = done ]" || true
    assert_eq done "$(state_of "${IDS[$t]}" "$t")" "state of the $t job"
done
wait_until 20 "[ \"\$(state_of ${IDS[fail]} fail)\" = dead ]" || true
assert_eq dead "$(state_of "${IDS[fail]}" fail)" "state of the fail job"
wait_until 20 "[ \"\$(state_of $delayed noop)\" = done ]" || true
assert_eq done "$(state_of "$delayed" noop)" "state of the delayed job (promoted by the scheduler)"
# sluice_job: the state and the envelope, read-only
job=$(rcli fcall_ro sluice_job 1 "$SLUICE_PREFIX:{message}" "${IDS[message]}")
assert_eq done "$(echo "$job" | head -1)" "FCALL_RO sluice_job: state"
assert_contains "$(echo "$job" | tail -1)" "\"id\":\"${IDS[message]}\"" "FCALL_RO sluice_job: the envelope"
assert_eq dead "$(rcli fcall_ro sluice_job 1 "$SLUICE_PREFIX:{fail}" "${IDS[fail]}" | head -1)" \
    "sluice_job: the fail job is dead"
assert_eq unknown "$(rcli fcall_ro sluice_job 1 "$SLUICE_PREFIX:{noop}" nope | head -1)" \
    "sluice_job: no such job"
[ -s "$TMP/pdf/fcall.pdf" ] && ok "the pdf job wrote fcall.pdf" || fail "no fcall.pdf"
assert_eq 1 "$(curl -s "$U/_fake/stats" | jq '[.requests.create_message // {} | .[]] | add // 0' 2>/dev/null | awk '{print ($1 >= 1)}')" \
    "the fake platform received the messages"
for t in noop sleep message pdf interview fail; do
    [ "$(rcli sismember "$SLUICE_PREFIX:queues" "$t")" = 1 ] || fail "queue $t not in $SLUICE_PREFIX:queues"
done
ok "every queue is in $SLUICE_PREFIX:queues"
assert_eq 2 "$(stat_of enqueued noop)" "stats enqueued of noop"
stop "$(pid_of w1)"
stop "$(pid_of s1)"

# ---------------------------------------------------------------- semantics

Q=fq
a=$(fcall $Q '{"type":"noop","idempotency_key":"order-42","payload":{"n":1}}')
b=$(fcall $Q '{"type":"noop","idempotency_key":"order-42","payload":{"n":2}}')
assert_eq "$a" "$b" "idempotency key: the first id again"
assert_eq 1 "$(ready_total)" "one job for the repeated key"
ttl=$(rcli pttl "$(k idem:order-42)")
assert_le 86000000 "$ttl" "idempotency key's TTL (ms)"

t0=$(rcli time | head -1)
d=$(fcall $Q '{"type":"noop","delay_ms":60000,"payload":{}}')
score=$(rcli zscore "$(k delayed)" "$d")
assert_le $((t0 * 1000 + 59000)) "${score%.*}" "delay_ms 60000: run-at at least now + 59 s"
assert_le "${score%.*}" $((t0 * 1000 + 62000)) "delay_ms 60000: run-at at most now + 62 s"
r=$(fcall $Q '{"type":"noop","run_at_ms":253402300799999,"payload":{}}')
assert_eq 253402300799999 "$(rcli zscore "$(k delayed)" "$r")" "run_at_ms: the delayed score"
c=$(fcall $Q '{"type":"noop","priority":"critical","payload":{}}')
h=$(fcall $Q '{"type":"noop","priority":"high","payload":{}}')
l=$(fcall $Q '{"type":"noop","priority":"low","payload":{}}')
assert_eq "$c" "$(rcli lrange "$(k ready:critical)" 0 -1)" "critical job in ready:critical"
assert_eq ready "$(rcli fcall_ro sluice_job 1 "$SLUICE_PREFIX:{$Q}" "$c" | head -1)" "sluice_job: ready"
assert_eq delayed "$(rcli fcall_ro sluice_job 1 "$SLUICE_PREFIX:{$Q}" "$d" | head -1)" "sluice_job: delayed"
assert_eq "$h" "$(rcli lrange "$(k ready:high)" 0 -1)" "high job in ready:high"
assert_eq "$l" "$(rcli lrange "$(k ready:low)" 0 -1)" "low job in ready:low"
body=$(job_body "$h")
assert_contains "$body" '"queue":"fq","priority":"high","max_attempts":8,"timeout_ms":30000' \
    "defaults: queue from the key, 8 attempts, 30 s"

# several envelopes: ids in order, sortable by creation
many=$(fcall $Q '{"type":"noop","payload":{"i":1}}' '{"type":"noop","payload":{"i":2}}' \
    '{"type":"noop","payload":{"i":3}}')
assert_eq 3 "$(echo "$many" | grep -c .)" "three envelopes, three ids"
assert_eq "$many" "$(echo "$many" | sort)" "ids in creation order"
i=0
for id in $many; do
    i=$((i + 1))
    assert_contains "$(job_body "$id")" "\"payload\":{\"i\":$i}" "id $i is envelope $i's job"
done
# a chosen id
assert_eq my-id-1 "$(fcall $Q '{"id":"my-id-1","type":"noop","payload":{}}')" "chosen id"
assert_contains "$(fcall $Q '{"id":"my-id-1","type":"noop","payload":{}}' 2>&1)" \
    "ERR sluice: id: a job with id my-id-1 exists already" "the same chosen id again"

# a batch opened (and left open) by the CLI takes FCALL jobs
B=fbatch-$$
enqueue --type noop --queue $Q --batch "$B" --batch-open --payload '{}' >/dev/null ||
    die "sluice-producer --batch-open failed"
fb=$(fcall $Q "{\"type\":\"noop\",\"batch\":\"$B\",\"payload\":{}}")
assert_eq 2 "$(rcli hget "$SLUICE_PREFIX:batch:{$B}" total)" "the batch counts the FCALL job"
assert_contains "$(job_body "$fb")" "\"batch\":\"$B\"" "the job names its batch"
assert_contains "$(fcall $Q '{"type":"noop","batch":"nope","payload":{}}' 2>&1)" \
    "ERR sluice: batch: no batch nope" "a batch never opened"
producer seal "$B" >/dev/null || fail "seal $B"
assert_contains "$(fcall $Q "{\"type\":\"noop\",\"batch\":\"$B\",\"payload\":{}}" 2>&1)" \
    "is sealed" "a sealed batch"
before=$(rcli dbsize)
start_worker w2 --queues $Q --concurrency 10
wait_until 20 "[ \"\$(\"\$CTL\" batch $B --json 2>/dev/null | jq -r .state)\" = complete ]" || true
assert_eq complete "$("$CTL" batch "$B" --json 2>/dev/null | jq -r .state)" "the batch completes"
stop "$(pid_of w2)"

# ---------------------------------------------------------------- errors

# expect ENVELOPE MESSAGE: the call is refused with MESSAGE, nothing stored
expect() {
    local n0 out
    n0=$(rcli dbsize)
    out=$(fcall $Q "$1" 2>&1)
    assert_contains "$out" "ERR sluice: $2" "refused: $1"
    assert_eq "$n0" "$(rcli dbsize)" "nothing stored for: $1"
}
expect '{"type":"noop","payload":"x"}' 'payload: expected object, got string'
expect '{"type":"noop"}' 'payload: missing (required)'
expect '{"payload":{}}' 'type: missing (required)'
expect '{"type":5,"payload":{}}' 'type: expected string, got integer'
expect '{"type":"Noop","payload":{}}' 'type: "Noop" does not match'
expect '{"type":"nope","payload":{}}' 'type: unknown job type "nope" (known: approval, fail'
# the known types are the job schemas the C programs check, not every file
# of schemas/ (openapi.json is the intake's HTTP API, not a job type)
expect '{"type":"openapi","payload":{}}' \
    'type: unknown job type "openapi" (known: approval, fail, followup, interview, message, noop, pdf, sleep)'
expect '{"type":"noop","queue":"other","payload":{}}' 'queue: "other" differs from the key'"'"'s queue fq'
expect '{"type":"noop","priority":"urgent","payload":{}}' 'priority: "urgent" is not one of critical, high, normal, low'
expect '{"type":"noop","max_attempts":0,"payload":{}}' 'max_attempts: 0 is below the minimum 1'
expect '{"type":"noop","max_attempts":1.5,"payload":{}}' 'max_attempts: expected integer, got number'
expect '{"type":"noop","timeout_ms":86400001,"payload":{}}' 'timeout_ms: 86400001 is above the maximum 86400000'
expect '{"type":"noop","delay_ms":-1,"payload":{}}' 'delay_ms: -1 is below the minimum 0'
expect '{"type":"noop","run_at_ms":"soon","payload":{}}' 'run_at_ms: expected integer, got string'
expect '{"type":"noop","idempotency_key":"","payload":{}}' 'idempotency_key: 0 characters, the minimum is 1'
expect "{\"type\":\"noop\",\"idempotency_key\":\"$(printf 'k%.0s' $(seq 201))\",\"payload\":{}}" \
    'idempotency_key: 201 characters, the limit is 200'
expect '{"type":"noop","batch":"a b","payload":{}}' 'batch: "a b" does not match'
expect '{"id":"a/b","type":"noop","payload":{}}' 'id: "a/b" does not match'
expect '{"type":"noop","colour":"red","payload":{}}' '(document): unknown field "colour"'
expect '{"type":"noop","payload":{"a":1,"a":2}}' 'payload.a: duplicate member name'
expect '{"type":"noop","payload":{"n":1e400}}' 'payload.n: number 1e400 is out of range'
expect '{"type":"noop","payload":{"n":9007199254740993}}' "payload.n: number 9007199254740993 would be stored as"
expect '{"type":"noop","payload":{"s":"\ud800"}}' 'payload.s: lone high surrogate'
expect '{"type":"noop","payload":{}} x' '(document): data after the JSON value'
expect '{"type":"noop","payload":{' 'payload: unexpected end'
expect '[1]' 'the job must be a JSON object, got array'
expect "{\"type\":\"noop\",\"payload\":{\"s\":\"$(printf '\xc3\x28')\"}}" 'payload.s: invalid UTF-8'
big=$("$PY" -c 'print("{\"type\":\"noop\",\"payload\":{\"s\":\"" + "x" * 70000 + "\"}}")')
expect "$big" 'payload: 70008 bytes, the limit is 65536'
# several: the bad one is named, nothing of the call is stored
n0=$(rcli dbsize)
out=$(fcall $Q '{"type":"noop","payload":{}}' '{"type":"noop","payload":[]}' 2>&1)
assert_contains "$out" "ERR sluice: envelope 2: payload: expected object, got array" "several: the bad one named"
assert_eq "$n0" "$(rcli dbsize)" "several with one bad: nothing stored"
# the key
assert_contains "$(rcli fcall sluice_enqueue 0 '{"type":"noop","payload":{}}' 2>&1)" \
    "ERR sluice: give one key" "no key"
assert_contains "$(rcli fcall sluice_enqueue 1 "$SLUICE_PREFIX:fq" '{"type":"noop","payload":{}}' 2>&1)" \
    "is not PREFIX:{QUEUE}" "a key without {QUEUE}"
assert_contains "$(rcli fcall sluice_enqueue 1 "$SLUICE_PREFIX:{fq}" 2>&1)" "ERR sluice: no envelope" \
    "no envelope"

stop "$FAKE_PID"
assert_nothing_running
finish
