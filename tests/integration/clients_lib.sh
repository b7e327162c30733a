# clients_lib.sh — what t_func_clients and t_serve_clients share: they run
# the README's client examples (each prints "enqueued ID", then "state
# STATE attempts N result JSON") against a worker and the fake Discord
# ($U). Sourced after lib.sh.

ROOT=$(cd "$(dirname "$0")/../.." && pwd)

# sent CHANNEL: messages the fake received for CHANNEL
sent() { curl -s "$U/_fake/messages?channel_id=$1" | jq .deliveries; }

# in_readme FILE: the README shows FILE's text as it is
in_readme() {
    "$PY" - "$ROOT/README.md" "$1" <<'PYEOF' && ok "README holds $(basename "$1") verbatim" || fail "README does not hold $1 verbatim"
import sys
readme, f = open(sys.argv[1]).read(), open(sys.argv[2]).read()
sys.exit(0 if f in readme else 1)
PYEOF
}

# ran NAME OUTPUT_FILE CHANNEL: the example enqueued a message job, saw it
# done with the platform's message id as its result, and the fake got the
# message once. Sets FIRST to the job's id.
ran() {
    local out id
    out=$(cat "$2")
    id=$(sed -n 's/^enqueued //p' "$2")
    [[ $id =~ ^[0-9A-Z]{26}$ ]] && ok "$1: enqueued $id" || fail "$1: no id in: $out"
    assert_contains "$out" "state done attempts 0" "$1: followed the job until it was done"
    assert_contains "$out" "message_id" "$1: read the job's result"
    assert_eq done "$("$SLUICE_BIN/sluice-ctl" show "$id" --queue message --json | jq -r .state)" \
        "$1: sluice-ctl show agrees"
    assert_eq 1 "$(sent "$3")" "$1: the message reached the fake Discord"
    FIRST=$id
}

# again NAME OUTPUT_FILE CHANNEL: a second run with the same idempotency
# key: the same id, no second message
again() {
    assert_eq "$FIRST" "$(sed -n 's/^enqueued //p' "$2")" "$1: the same idempotency key, the same id"
    assert_eq 1 "$(sent "$3")" "$1: still one message"
}
