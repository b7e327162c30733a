# t_metrics_scrape: a real Prometheus (Debian's prometheus, scrape
# interval 1 s, its own temporary storage, loopback only) scrapes a worker
# and a scheduler while jobs are enqueued and run; its query API then gives
# back: both targets up, the sum of sluice_jobs_processed_total equal to the
# jobs done (and to HGET stats processed), the scheduler leading, and the
# leader's ready gauge of a queue nobody serves equal to its LLEN.
. "$(dirname "$0")/lib.sh"

command -v prometheus >/dev/null || die "prometheus not found (Debian package prometheus: make deps)"

start_redis

WP=$(free_port)
SP=$(free_port)
PP=$(free_port)
start_worker w1 --queues "$Q" --concurrency 20 --metrics-listen "127.0.0.1:$WP"
start_scheduler s1 --metrics-listen "127.0.0.1:$SP"

cat >"$TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: sluice
    static_configs:
      - targets: ['127.0.0.1:$WP']
        labels: {role: worker}
      - targets: ['127.0.0.1:$SP']
        labels: {role: scheduler}
EOF
start_bg prometheus "$TMP/prometheus.log" prometheus --config.file="$TMP/prometheus.yml" \
    --storage.tsdb.path="$TMP/tsdb" --web.listen-address="127.0.0.1:$PP"

# query 'PromQL': the first result's value ("none" when there is none)
query() {
    curl -s --get --data-urlencode "query=$1" "http://127.0.0.1:$PP/api/v1/query" |
        "$PY" -c 'import json,sys
d = json.load(sys.stdin)
r = d.get("data", {}).get("result", []) if d.get("status") == "success" else []
v = r[0]["value"][1] if r else "none"
print(v if "." not in v else v.rstrip("0").rstrip("."))' 2>/dev/null || echo none
}

wait_until 60 '[ "$(query "sum(up{job=\"sluice\"})")" = 2 ]' ||
    fail "Prometheus does not see both targets up: $(query 'sum(up)') ($(tail -n 3 "$TMP/prometheus.log"))"

# the load: 5 rounds of 100 noop jobs, a second apart, so that scrapes land
# while they run; 4 jobs to a queue nobody serves
N=0
for round in 1 2 3 4 5; do
    for i in $(seq 1 100); do echo "{\"type\":\"noop\",\"queue\":\"$Q\",\"payload\":{}}"; done \
        >"$TMP/round.ndjson"
    producer enqueue --ndjson "$TMP/round.ndjson" >/dev/null || die "enqueue of round $round failed"
    N=$((N + 100))
    sleep 1
done
Q2="${Q}_idle"
for i in 1 2 3 4; do echo "{\"type\":\"noop\",\"queue\":\"$Q2\",\"payload\":{}}"; done >"$TMP/idle.ndjson"
producer enqueue --ndjson "$TMP/idle.ndjson" >/dev/null || die "enqueue to $Q2 failed"
wait_until 30 "[ \"\$(stat_of processed)\" -ge $N ]" || fail "processed=$(stat_of processed) of $N"

wait_until 30 "[ \"\$(query 'sum(sluice_jobs_processed_total{role=\"worker\"})')\" = $N ]" ||
    fail "Prometheus's sum of sluice_jobs_processed_total: $(query 'sum(sluice_jobs_processed_total)'), expected $N"
assert_eq "$(stat_of processed)" "$(query 'sum(sluice_jobs_processed_total)')" \
    "Prometheus's sum of sluice_jobs_processed_total = HGET stats processed"
assert_eq 1 "$(query 'sluice_scheduler_leader{role="scheduler"}')" \
    "Prometheus reads sluice_scheduler_leader 1 from the scheduler"
wait_until 10 "[ \"\$(query 'sluice_queue_ready{queue=\"$Q2\",priority=\"normal\"}')\" = 4 ]" ||
    fail "sluice_queue_ready of $Q2 through Prometheus: $(query "sluice_queue_ready{queue=\"$Q2\",priority=\"normal\"}")"
assert_eq "$(llen normal "$Q2")" "$(query "sluice_queue_ready{queue=\"$Q2\",priority=\"normal\"}")" \
    "the leader's ready gauge read back = LLEN"
# the series came in over time, not at one scrape at the end: the range of
# processed counts held more than one distinct value during the load
samples=$(query "count_over_time(sluice_jobs_processed_total{role=\"worker\",type=\"noop\"}[2m])")
assert_eq 1 "$(awk -v s="$samples" 'BEGIN { print (s + 0 >= 3) }')" \
    "Prometheus holds several scrapes of the worker's count ($samples)"

for n in w1 s1 prometheus; do
    stop "$(pid_of "$n")"
    assert_eq 0 "$STOP_STATUS" "$n exit status after SIGTERM"
done
assert_nothing_running
finish
