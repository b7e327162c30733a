# t_malformed: jobs written straight into Redis by a foreign client may be
# broken. Each goes to dead with a readable last_error; the worker survives
# and goes on with normal jobs.
. "$(dirname "$0")/lib.sh"

start_redis
start_worker w1 --queues "$Q"
wait_until 10 '[ "$(rcli zcard "$SLUICE_PREFIX:workers")" -ge 1 ]' || die "worker did not register"

put() { # put ID BODY: store a body and list the id as ready
    rcli set "$(k "job:$1")" "$2" >/dev/null
    rcli rpush "$(k ready:normal)" "$1" >/dev/null
}
put bad-a 'not json'
put bad-b '{"id":"bad-b","type":"nosuch","payload":{}}'
put bad-c '{"id":"bad-c","type":"sleep","payload":{"ms":"x"}}'
rcli rpush "$(k ready:normal)" bad-d >/dev/null # (d) no job key at all
put bad-e '{"id":"someone-else","type":"noop","payload":{}}'

wait_until 10 '[ "$(zcard dead)" -ge 5 ]' ||
    fail "ZCARD dead=$(zcard dead) after 10 s, expected 5 (ready=$(ready_total) active=$(zcard active) done=$(zcard done))"

# check_dead ID WORD WHAT: in dead, with a last_error that mentions WORD
check_dead() {
    local id=$1 word=$2 what=$3 body err
    [ -n "$(rcli zscore "$(k dead)" "$id")" ] && ok "$what: in dead" || fail "$what: $id is not in dead"
    body=$(job_body "$id")
    err=$(json_get "$body" last_error)
    say "# $what: last_error=$err"
    if [ -z "$err" ]; then
        fail "$what: no last_error in the stored body: $body"
    else
        assert_contains "$err" "$word" "$what: last_error"
    fi
}
check_dead bad-a JSON "(a) not JSON"
assert_eq "not json" "$(json_get "$(job_body bad-a)" raw)" "(a) the original text kept under raw"
check_dead bad-b nosuch "(b) unknown type"
check_dead bad-c ms "(c) sleep with ms:\"x\""
check_dead bad-d missing "(d) no job key"
check_dead bad-e someone-else "(e) body id differs from the listed id"
assert_eq 5 "$(stat_of dead)" "stats dead"
assert_eq 0 "$(zcard active)" "ZCARD active"
assert_eq 0 "$(zcard done)" "ZCARD done"

alive "$(pid_of w1)" && ok "the worker is still alive" || die "the worker died"
id=$(enqueue --type noop --queue "$Q" --payload '{}') || die "enqueue failed"
wait_until 10 '[ -n "$(rcli zscore "$(k done)" "$id")" ]' ||
    fail "a normal job enqueued afterwards is not done after 10 s"

stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status"
assert_nothing_running
finish
