# t_func_same: one source of truth. The same NDJSON (the valid corpus, then
# 5,600 mutated envelopes) goes through sluice-producer and through FCALL
# sluice_enqueue, under two prefixes: the same lines are refused, and every
# stored envelope is byte for byte the same but for the id the producer
# made and created_ms (tests/corpus/func_same.py: it names the two known
# differences, the payload schema and unknown types). For the valid corpus
# the Redis state the two left is compared too: ready lists, delayed,
# stats, the queue registry.
. "$(dirname "$0")/lib.sh"

CORPUS=$(cd "$(dirname "$0")/../corpus" && pwd)
start_redis
"$SLUICE_BIN/sluice-ctl" install >"$TMP/install.out" 2>&1 || die "sluice-ctl install: $(cat "$TMP/install.out")"
"$PY" -c 'import redis' 2>/dev/null || die "python3 has no redis module (Debian: python3-redis; make deps)"

CLI=$SLUICE_PREFIX-cli FUN=$SLUICE_PREFIX-fun

# compare NAME FILE: FILE through both paths
compare() {
    local rc=0
    SLUICE_PREFIX=$CLI producer enqueue --ndjson "$2" >"$TMP/$1.out" 2>"$TMP/$1.err" || rc=$?
    case $rc in 0 | 1) ok "$1: sluice-producer exit status $rc" ;; *) fail "$1: sluice-producer exit status $rc" ;; esac
    if "$PY" "$CORPUS/func_same.py" "$2" "$TMP/$1.out" "$TMP/$1.err" "$REDIS_PORT" "$CLI" "$FUN" \
        >"$TMP/$1.cmp" 2>&1; then
        ok "$1: $(tail -1 "$TMP/$1.cmp")"
    else
        fail "$1: the two paths differ"
        head -24 "$TMP/$1.cmp" | sed 's/^/#   /'
    fi
}

compare valid "$CORPUS/valid.ndjson"
# What the two runs of the valid corpus left besides the jobs: the same
# counts in each ready list, delayed, stats and the queue registry (the
# mutated corpus differs there by the two known differences).
state() {
    local p=$1 q
    for q in $(rcli smembers "$p:queues" | sort); do
        printf '%s ready %s %s %s %s delayed %s enqueued %s\n' "$q" \
            "$(rcli llen "$p:{$q}:ready:critical")" "$(rcli llen "$p:{$q}:ready:high")" \
            "$(rcli llen "$p:{$q}:ready:normal")" "$(rcli llen "$p:{$q}:ready:low")" \
            "$(rcli zcard "$p:{$q}:delayed")" "$(rcli hget "$p:{$q}:stats" enqueued)"
    done
}
a=$(state "$CLI") b=$(state "$FUN")
[ -n "$a" ] && [ "$a" = "$b" ] && ok "queues, ready lists, delayed and stats the same ($(echo "$a" | wc -l) queues)" ||
    fail "state differs: cli: $a / fcall: $b"

"$PY" "$CORPUS/mutate.py" "$TMP/mutated.ndjson" 5600 9
compare mutated "$TMP/mutated.ndjson"

assert_nothing_running
finish
