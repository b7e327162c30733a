# t_auth: a Redis that wants a user and password, and a database other than
# 0. Producer, scheduler and worker authenticate (the async connection too),
# work in database 1, and the password appears in no output or log.
. "$(dirname "$0")/lib.sh"

start_redis
secret="s3cr3t-$$-token"
rcli ACL SETUSER app on ">$secret" '~*' '&*' +@all >/dev/null
export SLUICE_REDIS_URL="redis://app:$secret@127.0.0.1:$REDIS_PORT/1"

start_scheduler s1
start_worker w1 --queues "$Q"
id_now=$(enqueue --type noop --queue "$Q" --payload '{}') || die "enqueue with a password failed"
id_later=$(enqueue --type noop --queue "$Q" --payload '{}' --delay-ms 300) || die "delayed enqueue failed"
wait_until 10 '[ "$(redis-cli -p "$REDIS_PORT" -n 1 HGET "$(k stats)" processed)" = 2 ]' ||
    fail "processed=$(redis-cli -p "$REDIS_PORT" -n 1 HGET "$(k stats)" processed), expected 2"
assert_eq 2 "$(redis-cli -p "$REDIS_PORT" -n 1 ZCARD "$(k done)")" "both jobs done, in database 1"
assert_eq 0 "$(rcli DBSIZE)" "nothing written to database 0"

# a wrong password: the worker says so, keeps trying, and does not crash
export SLUICE_REDIS_URL="redis://app:wrong-$secret-x@127.0.0.1:$REDIS_PORT/1"
start_worker w2 --queues "$Q"
wait_until 10 'grep -q "WRONGPASS" "$(log_of w2)"' || fail "w2 does not report the refused AUTH"
kill -0 "$(pid_of w2)" 2>/dev/null && ok "w2 still running after a refused AUTH" ||
    fail "w2 died after a refused AUTH"

stop "$(pid_of w1)"
stop "$(pid_of w2)"
stop "$(pid_of s1)"
for f in "$TMP"/*.log; do
    assert_not_contains "$(cat "$f")" "$secret" "$(basename "$f")"
done
assert_contains "$(cat "$(log_of w1)")" "app:***@127.0.0.1" "worker log shows the address, masked"

assert_nothing_running
finish
