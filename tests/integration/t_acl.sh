# t_acl: the Redis ACL users of deploy/users.acl, one per role. Always an
# ACL run (lib.sh: the file with this test's prefix and a password per role
# made for the run; each program runs as its role). Every role does its
# work together (a job enqueued by the CLI and one by FCALL, a delayed one
# promoted by the scheduler, all run by the worker, read back by the
# admin), then each is refused what it must not do: a producer cannot read
# a job body, FLUSHALL, FUNCTION LOAD or KEYS; a worker cannot touch ACLs,
# CONFIG or the function library; the scheduler cannot FLUSHALL; the admin
# cannot ACL, CONFIG or FLUSHALL; no role reaches a key outside the prefix.
# A program refused a command says which Redis user was refused what, and
# no password appears in any log or output (lib.sh's acl_check_end).
export SLUICE_TEST_ACL=1
. "$(dirname "$0")/lib.sh"

start_redis

# refused WHAT ROLE ARGS...: redis-cli as ROLE is refused ARGS for lack of
# permission (NOPERM, or a script's "The user executing the script can't")
refused() {
    local what=$1 role=$2 out
    shift 2
    out=$(acl_cli "$role" "$@" 2>&1)
    case $out in
    NOPERM* | *"The user executing the script can't"*) ok "$role: $what refused" ;;
    *) fail "$role: $what not refused: $(printf '%s' "$out" | head -c 200)" ;;
    esac
}
# allowed WHAT ROLE ARGS...: no error
allowed() {
    local what=$1 role=$2 out
    shift 2
    out=$(acl_cli "$role" "$@" 2>&1)
    case $out in
    NOPERM* | ERR* | *"can't"* | WRONGPASS*) fail "$role: $what refused: $(printf '%s' "$out" | head -c 200)" ;;
    *) ok "$role: $what allowed" ;;
    esac
}

# ---- every role at work
out=$("$SLUICE_BIN/sluice-ctl" install 2>&1)
assert_contains "$out" "installed version" "sluice-admin: sluice-ctl install (FUNCTION LOAD)"
start_scheduler s1 --done-max 2
start_worker w1 --queues "$Q"
id1=$(enqueue --type noop --queue "$Q" --payload '{}') || die "producer: enqueue failed"
id2=$(enqueue --type noop --queue "$Q" --payload '{}' --delay-ms 200) || die "producer: delayed enqueue failed"
id3=$(acl_cli producer FCALL sluice_enqueue 1 "$SLUICE_PREFIX:{$Q}" '{"type": "noop", "payload": {}}')
case $id3 in
[0-9A-Z]*) ok "sluice-producer: FCALL sluice_enqueue" ;;
*) fail "sluice-producer: FCALL sluice_enqueue: $id3" ;;
esac
assert_eq 2 "$(acl_cli producer FCALL_RO sluice_version 0)" "sluice-producer: FCALL_RO sluice_version"
wait_until 15 '[ "$(stat_of processed)" = 3 ]' || fail "processed=$(stat_of processed), expected 3"
# the scheduler trims done to 2 (the oldest goes, body and all)
wait_until 15 '[ "$(zcard done)" = 2 ]' || fail "done holds $(zcard done), expected 2 after the trim"
assert_eq 2 "$(rcli --raw eval "local n = 0 for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do n = n + redis.call('EXISTS', ARGV[1] .. id) end return n" 1 "$(k done)" "$(k job:)")" "bodies left: those of the jobs left in done"
out=$("$SLUICE_BIN/sluice-ctl" show "$id2" 2>&1)
assert_contains "$out" "state: done" "sluice-admin: sluice-ctl show of the delayed job"

# ---- what each role must not do
job=$(k "job:$id1")
for role in producer intake worker scheduler admin; do
    refused "FLUSHALL" $role FLUSHALL
    refused "FLUSHDB" $role FLUSHDB
    refused "KEYS" $role KEYS '*'
    refused "CONFIG SET" $role CONFIG SET maxmemory 1
    refused "CONFIG GET" $role CONFIG GET requirepass
    refused "ACL SETUSER" $role ACL SETUSER intruder on nopass '~*' +@all
    refused "ACL LIST" $role ACL LIST
    refused "SHUTDOWN" $role SHUTDOWN NOSAVE
    refused "SAVE" $role SAVE
    refused "MONITOR" $role MONITOR
    refused "a key outside the prefix (GET)" $role GET "other:{$Q}:job:$id1"
    refused "a key outside the prefix (SET)" $role SET "other:{$Q}:job:x" 1
    refused "a prefix that only starts like it" $role GET "${SLUICE_PREFIX}x:{$Q}:job:$id1"
    refused "EVALSHA on keys outside the prefix" $role EVALSHA "$(sha1sum <<<'' | cut -c1-40)" 1 "other:{$Q}:active"
    refused "a channel outside the prefix" $role PUBLISH "other:{$Q}:notify" ready
done
for role in producer intake worker scheduler; do
    refused "FUNCTION LOAD" $role FUNCTION LOAD REPLACE "#!lua name=sluice
redis.register_function('x', function() return 1 end)"
    refused "FUNCTION DELETE" $role FUNCTION DELETE sluice
done
refused "FUNCTION FLUSH" admin FUNCTION FLUSH
refused "reading a job body (GET)" producer GET "$job"
refused "reading a job body (FCALL_RO sluice_job)" producer FCALL_RO sluice_job 1 "$SLUICE_PREFIX:{$Q}" "$id1"
refused "reading a job body (SET ... GET)" producer SET "$job" x GET
refused "reading a job body (EVAL)" producer EVAL "return redis.call('GET', KEYS[1])" 1 "$job"
refused "listing a ready list" producer LRANGE "$(k ready:normal)" 0 -1
refused "SCAN" producer SCAN 0
allowed "reading a job body (GET /v1/jobs/ID)" intake GET "$job"
allowed "reading a job body" worker GET "$job"
allowed "reading a job body" admin GET "$job"
refused "a write to the active set (read-only for it)" admin LPUSH "$(k active)" x

# ---- a refused program says which user was refused what
stop "$(pid_of w1)"
stop "$(pid_of s1)"
out=$(SLUICE_PREFIX=other "$SLUICE_BIN/sluice-producer" enqueue --type noop --queue "$Q" --payload '{}' 2>&1)
echo "$out" >"$TMP/producer-refused.out"
assert_contains "$out" "Redis user 'sluice-producer' was refused" "sluice-producer names its user"
assert_contains "$out" "EVALSHA enqueue" "sluice-producer names the command"
out=$(SLUICE_REDIS_URL=$(acl_url producer) "$REAL_BIN/sluice-ctl" stats 2>&1)
echo "$out" >"$TMP/ctl-refused.out"
assert_contains "$out" "SMEMBERS" "sluice-ctl as sluice-producer: names the command"
assert_contains "$out" "Redis user 'sluice-producer' was refused" "sluice-ctl as sluice-producer: names the user"
SLUICE_PREFIX=other start_worker w2 --queues "$Q"
SLUICE_PREFIX=other start_scheduler s2
wait_until 10 'grep -q "redis refused a command" "$(log_of w2)"' || fail "w2 logs no refusal"
assert_contains "$(cat "$(log_of w2)")" "Redis user 'sluice-worker' may not run EVALSHA claim" "the worker names its user and script"
wait_until 10 'grep -q "redis refused a command" "$(log_of s2)"' || fail "s2 logs no refusal"
assert_contains "$(cat "$(log_of s2)")" "Redis user 'sluice-scheduler' may not run EVALSHA leader" "the scheduler names its user and script"
stop "$(pid_of w2)"
stop "$(pid_of s2)"
# the refusals above were on purpose; acl_check_end wants none of the rest
rcli ACL LOG RESET >/dev/null

assert_nothing_running
finish
