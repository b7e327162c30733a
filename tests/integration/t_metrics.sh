# t_metrics: --metrics-listen on a worker, two schedulers and the intake,
# after a small load. promtool (Debian's prometheus) accepts each /metrics
# text; the worker's counters agree with the stats hash (processed and
# failed per queue); the leading scheduler's fleet gauges equal LLEN and
# ZCARD of the lists they stand for, and the follower exports none of them;
# a worker's messages to the fake Discord count by route class and status,
# and its text holds neither the bot's token nor a channel id;
# /healthz and /readyz answer, /readyz 503 with a reason once Redis is gone;
# a bad or taken address is refused naming the option.
. "$(dirname "$0")/lib.sh"

command -v promtool >/dev/null || die "promtool not found (Debian package prometheus: make deps)"

start_redis

# scrape PORT PATH: the body; HTTP status in $TMP/code
scrape() { curl -s -o - -w '%{stderr}%{http_code}' "http://127.0.0.1:$1$2" 2>"$TMP/code"; }
# (a series is the line without its last field: label values may hold spaces)
# sample FILE 'NAME{LABELS}': the value of that exact series, or "none"
sample() {
    awk -v k="$2" '{ s = "" } /^[^#]/ { s = substr($0, 1, length($0) - length($NF) - 1) }
        s == k { print $NF; f = 1 } END { if (!f) print "none" }' "$1"
}
# family_sum FILE NAME 'LABEL="V"': sum of a family's series with that label
family_sum() {
    awk -v n="$2" -v l="$3" '{ s = "" } /^[^#]/ { s = substr($0, 1, length($0) - length($NF) - 1) }
        index(s, n "{") == 1 && index(s, l) { t += $NF } END { print t + 0 }' "$1"
}

# ---- refused addresses name the option
st=0
"$SLUICE_BIN/sluice-worker" --queues "$Q" --metrics-listen 'not an address' 2>"$TMP/bad.err" ||
    st=$?
assert_eq 2 "$st" "exit status with a bad --metrics-listen"
assert_contains "$(cat "$TMP/bad.err")" "--metrics-listen" "the error names the option"
st=0
"$SLUICE_BIN/sluice-scheduler" --metrics-listen 70000 2>"$TMP/bad2.err" || st=$?
assert_eq 2 "$st" "exit status with port 70000"
assert_contains "$(cat "$TMP/bad2.err")" "--metrics-listen: port \"70000\"" "names the port"

# ---- the load: noop jobs to Q, failing ones (dead at once, and retried),
# jobs to a queue no worker serves, delayed ones
N=300
for i in $(seq 1 $N); do echo "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{}}"; done >"$TMP/noop.ndjson"
producer enqueue --ndjson "$TMP/noop.ndjson" >/dev/null || die "enqueue of $N noop jobs failed"
for i in $(seq 1 10); do
    echo "{\"type\":\"fail\",\"queue\":\"$Q\",\"payload\":{\"permanent\":true}}"
    echo "{\"type\":\"fail\",\"queue\":\"$Q\",\"max_attempts\":2,\"payload\":{}}"
done >"$TMP/fail.ndjson"
producer enqueue --ndjson "$TMP/fail.ndjson" >/dev/null || die "enqueue of the failing jobs failed"
Q2="${Q}_idle"
for p in critical high normal normal low; do
    echo "{\"type\":\"noop\",\"queue\":\"$Q2\",\"priority\":\"$p\",\"payload\":{}}"
done >"$TMP/idle.ndjson"
for i in 1 2 3; do echo "{\"type\":\"noop\",\"queue\":\"$Q2\",\"delay_ms\":3600000,\"payload\":{}}"; done \
    >>"$TMP/idle.ndjson"
producer enqueue --ndjson "$TMP/idle.ndjson" >/dev/null || die "enqueue to $Q2 failed"

WP=$(free_port)
start_worker w1 --queues "$Q" --concurrency 50 --backoff-base-ms 10 --backoff-max-ms 20 \
    --metrics-listen "$WP"
wait_until 10 "[ \"\$(scrape $WP /healthz)\" = '{\"alive\":true}' ]" || fail "worker /healthz"

# the taken port is refused, naming the option
st=0
"$SLUICE_BIN/sluice-worker" --queues "$Q" --metrics-listen "127.0.0.1:$WP" 2>"$TMP/taken.err" ||
    st=$?
assert_eq 2 "$st" "exit status with a taken --metrics-listen"
assert_contains "$(cat "$TMP/taken.err")" "--metrics-listen 127.0.0.1:$WP: Address already in use" \
    "the error names the option and the reason"

SP1=$(free_port)
start_scheduler s1 --metrics-listen "127.0.0.1:$SP1" --reap-ms 100
wait_until 10 "scrape $SP1 /metrics | grep -q '^sluice_scheduler_leader 1'" ||
    fail "s1 did not become leader"
SP2=$(free_port)
start_scheduler s2 --metrics-listen "$SP2"
IP=$(free_port)
IMP=$(free_port)
start_bg intake "$TMP/intake.log" "$SLUICE_BIN/sluice-producer" serve --no-auth \
    --listen "127.0.0.1:$IP" --metrics-listen "$IMP" --redis-url "redis://127.0.0.1:$REDIS_PORT/0" \
    --prefix "$SLUICE_PREFIX"
wait_until 10 "[ \"\$(scrape $IMP /readyz)\" = '{\"ready\":true}' ]" || fail "intake /readyz"
for i in 1 2 3; do
    curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
        -d "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{}}" "http://127.0.0.1:$IP/v1/jobs"
done
curl -s -o /dev/null "http://127.0.0.1:$IP/v1/jobs/no-such-job?queue=$Q"

wait_until 60 "[ \"\$(stat_of processed)\" -ge $((N + 3)) ] && [ \"\$(stat_of dead)\" -ge 20 ]" ||
    fail "processed=$(stat_of processed) dead=$(stat_of dead) after 60 s"

# ---- the worker: its counters agree with the stats hash (polled: the
# last settle replies may still be on their way)
agree() {
    scrape "$WP" /metrics >"$TMP/worker.prom"
    [ "$(family_sum "$TMP/worker.prom" sluice_jobs_processed_total "queue=\"$Q\"")" = \
        "$(stat_of processed)" ] &&
        [ "$(family_sum "$TMP/worker.prom" sluice_jobs_failed_total "queue=\"$Q\"")" = \
            "$(stat_of failed)" ]
}
wait_until 10 agree || true
assert_eq 200 "$(cat "$TMP/code")" "worker /metrics status"
promtool check metrics <"$TMP/worker.prom" >"$TMP/promtool.worker" 2>&1
assert_eq 0 $? "promtool check metrics accepts the worker's text ($(head -c 300 "$TMP/promtool.worker"))"
assert_eq "$(stat_of processed)" "$(family_sum "$TMP/worker.prom" sluice_jobs_processed_total "queue=\"$Q\"")" \
    "sum of sluice_jobs_processed_total = HGET stats processed"
assert_eq "$(stat_of processed)" \
    "$(sample "$TMP/worker.prom" "sluice_jobs_processed_total{queue=\"$Q\",type=\"noop\"}")" \
    "noop jobs processed = HGET stats processed"
assert_eq "$(stat_of failed)" "$(family_sum "$TMP/worker.prom" sluice_jobs_failed_total "queue=\"$Q\"")" \
    "sum of sluice_jobs_failed_total = HGET stats failed"
assert_eq "$(stat_of dead)" \
    "$(family_sum "$TMP/worker.prom" sluice_jobs_failed_total 'outcome="dead"')" \
    "failed{outcome=dead} = HGET stats dead"
assert_eq "$(stat_of retried)" \
    "$(family_sum "$TMP/worker.prom" sluice_jobs_failed_total 'outcome="retried"')" \
    "failed{outcome=retried} = HGET stats retried"
runs=$(sample "$TMP/worker.prom" "sluice_job_run_seconds_count{queue=\"$Q\",type=\"noop\"}")
assert_eq "$(stat_of processed)" "$runs" "run-time histogram count of noop = processed"
assert_contains "$(cat "$TMP/worker.prom")" "sluice_jobs_in_flight{queue=\"$Q\"} 0" "in flight"
assert_not_contains "$(grep -c '^sluice_queue_' "$TMP/worker.prom")" "[1-9]" \
    "the worker exports no fleet gauge"

# ---- the leader's fleet gauges equal LLEN / ZCARD
fleet_agrees() {
    scrape "$SP1" /metrics >"$TMP/s1.prom"
    local p
    for p in critical high normal low; do
        [ "$(sample "$TMP/s1.prom" "sluice_queue_ready{queue=\"$Q2\",priority=\"$p\"}")" = \
            "$(llen "$p" "$Q2")" ] || return 1
    done
    [ "$(sample "$TMP/s1.prom" "sluice_queue_delayed{queue=\"$Q2\"}")" = "$(zcard delayed "$Q2")" ] &&
        [ "$(sample "$TMP/s1.prom" "sluice_queue_dead{queue=\"$Q\"}")" = "$(zcard dead "$Q")" ] &&
        [ "$(sample "$TMP/s1.prom" "sluice_queue_active{queue=\"$Q\"}")" = "$(zcard active "$Q")" ] &&
        [ "$(sample "$TMP/s1.prom" "sluice_workers")" = \
            "$(rcli zcard "$SLUICE_PREFIX:workers")" ]
}
wait_until 10 fleet_agrees || fail "the leader's fleet gauges do not match Redis: $(grep '^sluice_queue\|^sluice_workers' "$TMP/s1.prom" | tr '\n' ' ')"
assert_eq 2 "$(sample "$TMP/s1.prom" "sluice_queue_ready{queue=\"$Q2\",priority=\"normal\"}")" \
    "sluice_queue_ready{normal} of the idle queue"
assert_eq 3 "$(sample "$TMP/s1.prom" "sluice_queue_delayed{queue=\"$Q2\"}")" "sluice_queue_delayed"
assert_eq 20 "$(sample "$TMP/s1.prom" "sluice_queue_dead{queue=\"$Q\"}")" "sluice_queue_dead"
assert_eq 1 "$(sample "$TMP/s1.prom" "sluice_workers")" "sluice_workers"
age=$(sample "$TMP/s1.prom" "sluice_queue_oldest_ready_age_seconds{queue=\"$Q2\"}")
assert_eq 1 "$(awk -v a="$age" 'BEGIN { print (a > 0 && a < 600) }')" \
    "oldest ready job's age of the idle queue is a positive number of seconds ($age)"
promtool check metrics <"$TMP/s1.prom" >"$TMP/promtool.s1" 2>&1
assert_eq 0 $? "promtool check metrics accepts the leader's text ($(head -c 300 "$TMP/promtool.s1"))"

# ---- the follower: leader 0, no fleet gauge
scrape "$SP2" /metrics >"$TMP/s2.prom"
assert_eq 0 "$(sample "$TMP/s2.prom" sluice_scheduler_leader)" "follower: sluice_scheduler_leader 0"
assert_eq 0 "$(grep -c '^sluice_queue_\|^sluice_workers\|^# TYPE sluice_queue_' "$TMP/s2.prom")" \
    "the follower exports no fleet gauge"
promtool check metrics <"$TMP/s2.prom" >"$TMP/promtool.s2" 2>&1
assert_eq 0 $? "promtool check metrics accepts the follower's text"

# ---- the intake
scrape "$IMP" /metrics >"$TMP/intake.prom"
assert_eq 3 "$(sample "$TMP/intake.prom" 'sluice_intake_requests_total{route="/v1/jobs",status="201"}')" \
    "intake: POST /v1/jobs 201 counted"
assert_eq 1 "$(sample "$TMP/intake.prom" 'sluice_intake_requests_total{route="/v1/jobs/{id}",status="404"}')" \
    "intake: a lookup counted under its route class, not its id"
promtool check metrics <"$TMP/intake.prom" >"$TMP/promtool.intake" 2>&1
assert_eq 0 $? "promtool check metrics accepts the intake's text ($(head -c 300 "$TMP/promtool.intake"))"
scrape "$IMP" /nowhere >/dev/null
assert_eq 404 "$(cat "$TMP/code")" "an unknown path: 404"

# ---- messages to the fake Discord: requests by route class and status;
# neither the bot's token nor a channel id appears anywhere in the text
TOKEN="metrics-$$-secret-token"
start_fake fake --discord-token "$TOKEN" --latency-ms 2
use_discord_fake "$TOKEN"
Q3="${Q}_msg"
Q_SAVE=$Q
Q=$Q3
discord_jobs "$TMP/msgs.ndjson" 6 3 987654321 "hello"
producer enqueue --ndjson "$TMP/msgs.ndjson" >/dev/null || die "enqueue of 6 messages failed"
MP=$(free_port)
start_worker w2 --queues "$Q3" --concurrency 10 --metrics-listen "$MP"
wait_until 20 '[ "$(stat_of processed)" -ge 6 ]' || fail "messages processed=$(stat_of processed) of 6"
wait_until 10 "scrape $MP /metrics >$TMP/w2.prom; [ \"\$(family_sum $TMP/w2.prom sluice_jobs_processed_total 'type=\"message\"')\" = 6 ]" ||
    fail "message jobs processed in w2's metrics: $(family_sum "$TMP/w2.prom" sluice_jobs_processed_total 'type="message"')"
Q=$Q_SAVE
assert_eq 6 "$(family_sum "$TMP/w2.prom" sluice_http_requests_total 'route="POST /channels/{id}/messages",status="200"')" \
    "sluice_http_requests_total of the message route, status 200"
assert_eq 6 "$(jq .deliveries <<<"$(curl -s "$U/_fake/stats")")" "the fake's deliveries"
assert_eq 0 "$(grep -c -e "$TOKEN" -e 98765432 "$TMP/w2.prom")" "no token and no channel id in the text"
promtool check metrics <"$TMP/w2.prom" >"$TMP/promtool.w2" 2>&1
assert_eq 0 $? "promtool check metrics accepts the text of a worker that sent messages"
stop "$(pid_of w2)"
assert_eq 0 "$STOP_STATUS" "w2 exit status after SIGTERM"
stop "$FAKE_PID"

# ---- /readyz follows Redis
assert_eq '{"ready":true}' "$(scrape "$WP" /readyz)" "worker /readyz while Redis is up"
stop "$REDIS_PID"
REDIS_PID=
wait_until 10 "scrape $WP /readyz >/dev/null; [ \"\$(cat $TMP/code)\" = 503 ]" ||
    fail "worker /readyz is not 503 after Redis stopped"
assert_contains "$(scrape "$WP" /readyz)" '"reason":"redis: not connected' "the 503 says why"
assert_eq '{"alive":true}' "$(scrape "$WP" /healthz)" "/healthz stays 200"

for n in w1 s1 s2 intake; do
    stop "$(pid_of "$n")"
    assert_eq 0 "$STOP_STATUS" "$n exit status after SIGTERM"
done
assert_nothing_running
finish
