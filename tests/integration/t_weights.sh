# t_weights: --queues hi,mid:3,lo:1 serves hi first (strict), then mid and lo
# by weight 3:1. With no worker running, 20 hi, 300 mid and 300 lo jobs are
# queued; a worker that takes one job per claim must run every hi job first,
# then mid about three times as often as lo while both have work.
. "$(dirname "$0")/lib.sh"

start_redis

for q in hi mid lo; do
    n=300
    [ "$q" = hi ] && n=20
    for i in $(seq 1 $n); do
        echo "{\"type\":\"noop\",\"queue\":\"$q\",\"payload\":{\"q\":\"$q\"}}"
    done >"$TMP/$q.ndjson"
    producer enqueue --ndjson "$TMP/$q.ndjson" >"$TMP/$q.ids" || die "enqueue into $q failed"
done

start_worker w1 --queues hi,mid:3,lo:1 --concurrency 1 --batch 1 --latency-log "$TMP/latency.log"
wait_until 60 '[ $(( $(stat_of processed hi) + $(stat_of processed mid) + $(stat_of processed lo) )) -ge 620 ]' ||
    fail "not all 620 jobs processed after 60 s"
stop "$(pid_of w1)"
assert_eq 0 "$STOP_STATUS" "worker exit status after SIGTERM"

# which queue each started job came from, in start order
cut -d' ' -f1 "$TMP/latency.log" >"$TMP/order.ids"
"$PY" - "$TMP" >"$TMP/verdict" <<'PY'
import sys
d = sys.argv[1]
queue = {}
for q in ("hi", "mid", "lo"):
    for line in open(f"{d}/{q}.ids"):
        queue[line.strip()] = q
order = [queue[l.strip()] for l in open(f"{d}/order.ids")]
first_other = next(i for i, q in enumerate(order) if q != "hi")
print("hi_first", int(all(q == "hi" for q in order[:20])), first_other)
window = order[20:220]  # both mid and lo still have work here
print("mid_in_200", window.count("mid"))
PY
read -r _ hi_first first_other <"$TMP/verdict"
assert_eq 1 "$hi_first" "the 20 strict-tier jobs ran first"
assert_eq 20 "$first_other" "first job from a weighted queue came after all of hi"
mid=$(sed -n 's/^mid_in_200 //p' "$TMP/verdict")
# binomial(200, 0.75): mean 150, sd 6; 120..180 is five sd either side
[ "$mid" -ge 120 ] && [ "$mid" -le 180 ] && ok "mid ran $mid of 200 weighted picks (3:1 expects 150)" ||
    fail "mid ran $mid of 200 weighted picks, expected about 150 for weights 3:1"

assert_nothing_running
finish
