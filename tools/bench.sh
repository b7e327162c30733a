#!/bin/sh
# bench.sh — `make bench`: starts a private redis-server in a temporary
# directory on a free port, runs sluice-bench's standard set against it and
# prints one JSON object per line on stdout (progress goes to stderr). Builds
# nothing: `make bench` has built bin/ first. SLUICE_BIN picks other binaries;
# BENCH_NOOP_JOBS, BENCH_NOOP2_JOBS, BENCH_IO_JOBS, BENCH_MESSAGE_JOBS,
# BENCH_MESSAGE2_JOBS, BENCH_PDF_JOBS, BENCH_SPOOL_JOBS and BENCH_LATENCY_SECONDS shrink
# or grow the set;
# BENCH_ONLY="message" (names of sluice-bench tests) runs only those. The
# message tests deliver to a private sluice-fake-platform as Discord.
# BENCH_ONLY="fleet" runs only the two busy-machine fleet runs (3 workers,
# 3,000 messages over 150 channels at Discord's limits beside a CPU-bound
# process, then with 5% 5xx, 5% dropped-after-effect and 5% 5xx-after-effect
# answers);
# BENCH_FLEET_RUNS repeats them (default 1), BENCH_FLEET_JOBS sizes them;
# BENCH_LOG_DIR keeps the fake's request logs there (fleet-N-plain.jsonl,
# fleet-N-faults.jsonl, and the same for the runs below) and the workers'
# logs (BENCH_WORKER_LOG_LEVEL: info also shows their counts of late
# requests and places given back). BENCH_ONLY="interviews" runs 140 interviews at Discord's channel-create
# bucket of 10 per 10 s (BENCH_INTERVIEWS sizes it) and BENCH_ONLY="telegram"
# 10 private chats x 20 messages at Telegram's 1 per second per chat, each
# beside the CPU-bound process; BENCH_APPS_RUNS repeats them (default 1).
# BENCH_ONLY="intake" measures the HTTP intake with wrk (tools/bench_intake.sh).
# BENCH_ONLY="metrics" measures what --metrics-listen costs (tools/bench_metrics.sh).
# BENCH_ONLY="fcall" enqueues BENCH_FCALL_JOBS (200,000) with FCALL
# sluice_enqueue from one redis-py client pipelining 100 (bench/fcall.py).
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SLUICE_BIN:-$here/bin}
bench="$bin/sluice-bench"
[ -x "$bench" ] || { echo "bench: $bench is missing (run make first)" >&2; exit 1; }
[ -x "$bin/sluice-worker" ] || { echo "bench: $bin/sluice-worker is missing" >&2; exit 1; }
fake="$bin/sluice-fake-platform"
[ -x "$fake" ] || { echo "bench: $fake is missing" >&2; exit 1; }
for tool in redis-server redis-cli redis-benchmark python3 curl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench: $tool not found (make deps)" >&2; exit 1; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
pid=""
fake_pid=""
busy_pids="" # the CPU hog, a scheduler and workers of the busy-machine runs
# shellcheck disable=SC2317 # called from the trap
cleanup() {
    for p in $busy_pids $fake_pid $pid; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Nothing on disk: persistence would measure the disk, not Sluice.
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
    --logfile "$dir/redis.log" --daemonize no &
pid=$!
i=0
until redis-cli -p "$port" ping >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "bench: redis-server did not answer on port $port" >&2
        cat "$dir/redis.log" >&2 2>/dev/null || true
        exit 1
    fi
    sleep 0.1
done

export SLUICE_REDIS_URL="redis://127.0.0.1:$port/0"
export SLUICE_PREFIX=sluice

# The machine's own figure for context: plain SETs from 50 clients.
ref=$(redis-benchmark -p "$port" -t set -n 200000 -q 2>/dev/null | tr '\r' '\n' |
    sed -n 's/^SET: \([0-9.]*\) requests per second.*$/\1/p' | tail -n 1)
if [ -n "$ref" ]; then
    echo "{\"test\":\"redis-benchmark\",\"command\":\"set\",\"requests\":200000,\"requests_per_s\":$ref}"
else
    echo "bench: redis-benchmark gave no figure" >&2
fi
redis-cli -p "$port" flushall >/dev/null

status=0
run() {
    # BENCH_ONLY="message pdf" runs only those tests (the fleet runs are
    # named "fleet" as a whole)
    if [ "${FLEET:-0}" != 1 ]; then
        case " ${BENCH_ONLY:-$1} " in *" $1 "*) ;; *) return 0 ;; esac
    fi
    echo "bench: sluice-bench $*" >&2
    "$bench" "$@" || status=1
}

# Latency first, while Redis is quiet: after a million jobs are deleted it
# spends a while shrinking its tables and returning memory, which shows up
# in the tail of whatever runs next.
lat_s=${BENCH_LATENCY_SECONDS:-10}
run latency --rate 1000 --seconds "$lat_s"
run latency --rate 500 --seconds "$lat_s"
run io --jobs "${BENCH_IO_JOBS:-100000}" --ms 50 --concurrency 1000
run noop --jobs "${BENCH_NOOP_JOBS:-1000000}" --workers 1 --concurrency 1000
run noop --jobs "${BENCH_NOOP2_JOBS:-500000}" --workers 2 --concurrency 1000
# One-page PDFs rendered on one worker's two pool threads and filed under a
# temporary --pdf-dir (the workers' temporary files must all be gone after).
run pdf --jobs "${BENCH_PDF_JOBS:-3000}" --workers 1 --concurrency 100 --pdf-threads 2
# The producer's SQLite spool (synchronous=FULL): puts of 500 jobs, the CLI
# spooling with Redis refusing connections, then sluice-producer flush.
run spool --jobs "${BENCH_SPOOL_JOBS:-100000}" --batch 500

# The fake Discord. The token is random, kept in a private file, and reaches
# the workers only as that file's name.
token_file="$dir/discord.token"
(umask 077 && python3 -c 'import secrets; print("bench-" + secrets.token_hex(16))' >"$token_file")
chmod 600 "$token_file"
tg_token_file="$dir/telegram.token"
(umask 077 && python3 -c 'import secrets; print("123456:bench" + secrets.token_hex(8))' >"$tg_token_file")

# start_fake ARGS...: a fresh fake on a free port; sets fake_pid and api.
start_fake() {
    : >"$dir/fake.out"
    SLUICE_FAKE_DISCORD_TOKENS="$(cat "$token_file")" SLUICE_FAKE_TELEGRAM_TOKENS="$(cat "$tg_token_file")" \
        "$fake" "$@" >"$dir/fake.out" 2>>"$dir/fake.log" &
    fake_pid=$!
    i=0
    until grep -q '^listening ' "$dir/fake.out"; do
        i=$((i + 1))
        if [ "$i" -gt 100 ] || ! kill -0 "$fake_pid" 2>/dev/null; then
            echo "bench: sluice-fake-platform did not start" >&2
            cat "$dir/fake.log" >&2 2>/dev/null || true
            exit 1
        fi
        sleep 0.1
    done
    api="http://$(sed -n '1s/^listening //p' "$dir/fake.out")/api/v10"
}

stop_fake() {
    kill "$fake_pid" 2>/dev/null || true
    wait "$fake_pid" 2>/dev/null || true
    fake_pid=""
}

# Throughput: no limits anywhere, 50 ms per answer, 1,000 in flight (the
# ceiling is 20,000 messages/s).
start_fake --global-limit 0 --bucket-limit 0 --latency-ms 50
run message --jobs "${BENCH_MESSAGE_JOBS:-60000}" --workers 1 --concurrency 1000 \
    --discord-per-second 0 --discord-api "$api" --discord-token-file "$token_file" --timeout-s 120
stop_fake

# Keeping to Discord's limits: three workers share the global 50/s and learn
# the 10-per-second buckets of 30 channels; no 429 is wanted.
start_fake --global-limit 50 --bucket-limit 10 --bucket-window-ms 1000 --latency-ms 20
run message --jobs "${BENCH_MESSAGE2_JOBS:-1500}" --workers 3 --concurrency 200 --channels 30 \
    --discord-per-second 50 --discord-api "$api" --discord-token-file "$token_file" --timeout-s 120
stop_fake

# The fleet on a busy machine (issue 9): Discord's limits (global 50/s, 5
# messages per 5 s per channel, 100 ms answers), three workers, 3,000
# messages over 150 channels, and a CPU-bound process on one core the
# whole time; then the same with 5% of answers 5xx (nothing done), 5%
# of connections dropped after the message was delivered and 5% of answers
# 5xx after the message was delivered. Wanted: zero
# 429s, zero duplicates, nothing lost; steady_ratio_to_limit is the share
# of the global limit kept up. Only with BENCH_ONLY containing "fleet".
case " ${BENCH_ONLY:-} " in
*" fleet "*)
    FLEET=1
    sh -c 'while :; do :; done' &
    hog=$!
    # a scheduler brings back the jobs retried after a 5xx or a drop
    "$bin/sluice-scheduler" --tick-ms 100 --log-level warn 2>>"$dir/scheduler.log" &
    sched=$!
    busy_pids="$hog $sched"
    n=0
    while [ "$n" -lt "${BENCH_FLEET_RUNS:-1}" ]; do
        n=$((n + 1))
        echo "bench: fleet run $n (uptime: $(uptime | sed 's/.*load/load/'))" >&2
        start_fake --global-limit 50 --bucket-limit 5 --bucket-window-ms 5000 --latency-ms 100 \
            ${BENCH_LOG_DIR:+--log "$BENCH_LOG_DIR/fleet-$n-plain.jsonl"}
        run message --jobs "${BENCH_FLEET_JOBS:-3000}" --workers 3 --concurrency 200 \
            --channels 150 --discord-per-second 50 --discord-api "$api" \
            --discord-token-file "$token_file" --timeout-s 300
        stop_fake
        start_fake --global-limit 50 --bucket-limit 5 --bucket-window-ms 5000 --latency-ms 100 \
            --fail-rate 0.05 --drop-rate 0.05 --fail-after-rate 0.05 --seed "$n" \
            ${BENCH_LOG_DIR:+--log "$BENCH_LOG_DIR/fleet-$n-faults.jsonl"}
        echo "bench: fleet run $n with faults (uptime: $(uptime | sed 's/.*load/load/'))" >&2
        run message --jobs "${BENCH_FLEET_JOBS:-3000}" --workers 3 --concurrency 200 \
            --channels 150 --discord-per-second 50 --discord-api "$api" \
            --discord-token-file "$token_file" --timeout-s 300
        stop_fake
    done
    kill "$hog" "$sched" 2>/dev/null || true
    busy_pids=""
    ;;
esac

# The interview and Telegram runs drive real workers from here: each run on
# a fresh Redis database and a fresh fake, with the fake's request log read
# by bench/apps.py, beside the CPU-bound process.
logs=${BENCH_LOG_DIR:-$dir}
now_ms() { python3 -c 'import time; print(int(time.time() * 1000))'; }
# apps_start N QUEUES: a scheduler (no approval sweeps) and N workers at
# concurrency 200, with the fake at $api as both platforms
apps_start() {
    redis-cli -p "$port" flushall >/dev/null
    "$bin/sluice-scheduler" --tick-ms 100 --approval-interval-ms 0 --log-level warn \
        2>>"$logs/$tag-scheduler.log" &
    busy_pids="$busy_pids $!"
    k=0
    while [ "$k" -lt "$1" ]; do
        k=$((k + 1))
        SLUICE_DISCORD_TOKEN_FILE="$token_file" SLUICE_DISCORD_API="$api" \
            SLUICE_TELEGRAM_TOKEN_FILE="$tg_token_file" SLUICE_TELEGRAM_API="${api%/api/v10}" \
            "$bin/sluice-worker" --id "bench-$tag-$k" --queues "$2" --concurrency 200 \
            --log-level "${BENCH_WORKER_LOG_LEVEL:-warn}" 2>>"$logs/$tag-worker-$k.log" &
        busy_pids="$busy_pids $!"
    done
}
# apps_wait QUEUE N TIMEOUT_S: until N jobs of QUEUE are processed
apps_wait() {
    t=0
    while :; do
        done_n=$(redis-cli -p "$port" hget "$SLUICE_PREFIX:{$1}:stats" processed)
        [ "${done_n:-0}" -ge "$2" ] && return 0
        t=$((t + 1))
        if [ "$t" -gt $(($3 * 10)) ]; then
            echo "bench: $tag: ${done_n:-0} of $2 $1 jobs processed after $3 s" >&2
            status=1
            return 1
        fi
        sleep 0.1
    done
}
apps_stop() {
    for p in $busy_pids; do kill "$p" 2>/dev/null || true; done
    for p in $busy_pids; do wait "$p" 2>/dev/null || true; done
    busy_pids=""
}

# 140 interviews (issue 9): Discord's channel-create bucket at 10 per 10 s
# (the fake's buckets are per route per guild, so one guild's creates share
# one), global 50/s, the demo's latencies (listing 100 ms, create 200 ms,
# intro 200 ms), three workers. The floor: the listing answered, then 10
# creates in each 10 s window, each window opening as the last one ends,
# then the last create and its intro answered: 0.1 + 13 x 10 + 0.2 + 0.2 =
# 130.5 s from enqueue to the last intro for 140.
case " ${BENCH_ONLY:-} " in
*" interviews "*)
    ni=${BENCH_INTERVIEWS:-140}
    n=0
    while [ "$n" -lt "${BENCH_APPS_RUNS:-1}" ]; do
        n=$((n + 1))
        tag="interviews-$n"
        start_fake --global-limit 50 --bucket-limit 10 --bucket-window-ms 10000 \
            --latency list_channels=100 --latency create_channel=200 \
            --latency create_message=200 --log "$logs/$tag.jsonl"
        sh -c 'while :; do :; done' &
        busy_pids="$!"
        apps_start 3 interview
        python3 "$here/bench/apps.py" interviews-jobs "$ni" 4242 >"$dir/interviews.ndjson"
        echo "bench: $tag (uptime: $(uptime | sed 's/.*load/load/'))" >&2
        t0=$(now_ms)
        "$bin/sluice-producer" enqueue --ndjson "$dir/interviews.ndjson" >/dev/null || status=1
        apps_wait interview "$ni" 400 || true
        apps_stop
        stop_fake
        python3 "$here/bench/apps.py" interviews-report "$logs/$tag.jsonl" "$t0" "$ni" \
            100 200 200 10 10000 || status=1
    done
    ;;
esac

# Telegram (issue 9): 10 private chats x 20 messages at the fake's 1
# message per second per chat (bot limit 30/s, answers after 100 ms), three
# workers: zero 429s wanted; the closest two messages to one chat by the
# fake's clock.
case " ${BENCH_ONLY:-} " in
*" telegram "*)
    n=0
    while [ "$n" -lt "${BENCH_APPS_RUNS:-1}" ]; do
        n=$((n + 1))
        tag="telegram-$n"
        start_fake --telegram-chat-limit 1 --telegram-bot-limit 30 --latency-ms 100 \
            --log "$logs/$tag.jsonl"
        sh -c 'while :; do :; done' &
        busy_pids="$!"
        apps_start 3 tgbench
        python3 "$here/bench/apps.py" telegram-jobs 10 20 tgbench >"$dir/telegram.ndjson"
        echo "bench: $tag (uptime: $(uptime | sed 's/.*load/load/'))" >&2
        t0=$(now_ms)
        "$bin/sluice-producer" enqueue --ndjson "$dir/telegram.ndjson" >/dev/null || status=1
        apps_wait tgbench 200 120 || true
        apps_stop
        stop_fake
        python3 "$here/bench/apps.py" telegram-report "$logs/$tag.jsonl" "$t0" 10 20 || status=1
    done
    ;;
esac
# The HTTP intake (issue 10) under wrk: tools/bench_intake.sh.
case " ${BENCH_ONLY:-} " in
*" intake "*)
    sh "$here/tools/bench_intake.sh" || status=1
    ;;
esac
# What --metrics-listen costs (issue 12): tools/bench_metrics.sh.
case " ${BENCH_ONLY:-} " in
*" metrics "*)
    sh "$here/tools/bench_metrics.sh" || status=1
    ;;
esac
# FCALL sluice_enqueue (issue 10) from one redis-py client pipelining 100
# calls of one envelope each: jobs/s and Redis CPU per job.
case " ${BENCH_ONLY:-} " in
*" fcall "*)
    "$bin/sluice-ctl" install >&2 || status=1
    /usr/bin/python3 "$here/bench/fcall.py" "$port" "${BENCH_FCALL_JOBS:-200000}" 100 || status=1
    ;;
esac
exit "$status"
