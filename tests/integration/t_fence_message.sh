# t_fence_message: a worker that learns it lost a lease while the job's
# request is in flight stops the run there. The platform holds every
# answer 30 s; worker A (15 s lease: renewed every 5 s, its requests time
# out after 10 s) sends the message and is paused until the scheduler
# declares it dead (missed heartbeats) and worker B claims the job.
# Resumed, A's next renew is refused while its request is still in flight:
# A cancels it (the path a timeout takes), settles nothing, frees the slot
# and carries on. Under ASan (SLUICE_BIN=build-san/bin) this runs the
# handler's cancel from a renew reply with a request in curl's hands.
. "$(dirname "$0")/lib.sh"

start_redis
TOKEN="fence-$$-token"
start_fake fake --discord-token "$TOKEN" --latency-ms 30000
use_discord_fake "$TOKEN"
start_scheduler s1 --reap-ms 200 --worker-dead-ms 1000
start_worker a --queues "$Q" --concurrency 2 --lease-ms 15000 --heartbeat-ms 200 --grace-ms 0
wait_until 10 'grep -q "leader now" "$(log_of s1)"' || die "scheduler did not become leader"

fake_requests() { json_get "$(curl -s "$U/_fake/stats")" requests_total; }
id=$(enqueue --type message --queue "$Q" \
    --payload '{"platform":"discord","channel_id":"42","content":"held"}') || die "enqueue failed"
wait_until 10 '[ "$(fake_requests)" = 1 ]' || die "worker a's request did not reach the fake"

kill -STOP "$(pid_of a)"
wait_until 15 '[ "$(stat_of reclaimed)" = 1 ]' || die "the scheduler did not reclaim a's job"
start_worker b --queues "$Q" --concurrency 2 --lease-ms 30000 --grace-ms 0
wait_until 10 '[ "$(rcli hget "$(k lease)" "$id" | cut -d/ -f1)" = "b-$$" ]' ||
    die "worker b did not claim the job"
kill -CONT "$(pid_of a)"

wait_until 15 'grep -q "leases lost .* abandoned=1" "$(log_of a)"' ||
    fail "worker a did not stop its run of $id after its renew was refused"
wait_until 10 '[ "$(rcli hget "$SLUICE_PREFIX:worker:a-$$" running)" = 0 ]' ||
    fail "worker a still holds a slot for $id"
alive "$(pid_of a)" && ok "worker a carries on" || fail "worker a died"
assert_eq "b-$$" "$(rcli hget "$(k lease)" "$id" | cut -d/ -f1)" "the lease of $id after a stopped its run"
stop "$(pid_of a)"
assert_eq 0 "$STOP_STATUS" "worker a exit status"
assert_contains "$(grep "worker stopped" "$(log_of a)")" "abandoned=1" "a counts the run it stopped"
assert_not_contains "$(cat "$(log_of a)")" "settle refused" "a's log (it settled nothing)"
assert_not_contains "$(cat "$(log_of a)")" "timed out" "a's log (its request was cancelled, not timed out)"
assert_eq 0 "$(stat_of processed)" "jobs processed (b's request is still held)"

stop "$(pid_of b)"
assert_eq 0 "$STOP_STATUS" "worker b exit status"
stop "$(pid_of s1)"
stop "$FAKE_PID"
assert_nothing_running
finish
