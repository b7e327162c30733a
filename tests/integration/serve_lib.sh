# serve_lib.sh — what the t_serve*.sh tests share: an intake
# (sluice-producer serve) on a free port, tokens, and curl wrappers.
# Sourced after lib.sh.

# new_token NAME ARGS...: a token made by `sluice-producer token new ARGS`;
# its entry is appended to $TMP/tokens; the token is left in TOKEN_NAME's
# variable TOK_<NAME>.
new_token() {
    local name=$1 out
    shift
    out=$("$SLUICE_BIN/sluice-producer" token new --name "$name" "$@" 2>/dev/null) ||
        die "token new $* failed"
    sed -n 2p <<<"$out" >>"$TMP/tokens"
    printf -v "TOK_$name" '%s' "$(sed -n 1p <<<"$out")"
}

# start_intake ARGS...: the intake on a free port (I = its base URL).
start_intake() {
    INTAKE_PORT=$(free_port)
    I="http://127.0.0.1:$INTAKE_PORT"
    start_bg intake "$TMP/intake.log" "$SLUICE_BIN/sluice-producer" serve \
        --redis-url "redis://127.0.0.1:$REDIS_PORT" --listen "127.0.0.1:$INTAKE_PORT" "$@"
    INTAKE_PID=$LAST_PID
    wait_until 10 "curl -sf '$I/readyz' >/dev/null" ||
        die "the intake did not become ready: $(tail -5 "$TMP/intake.log")"
}

# req METHOD PATH TOKEN [CURL ARGS...]: sets CODE, BODY and HDRS (headers).
req() {
    local method=$1 path=$2 tok=$3
    shift 3
    local auth=()
    [ -n "$tok" ] && auth=(-H "Authorization: Bearer $tok")
    CODE=$(curl -s -X "$method" -o "$TMP/req.body" -D "$TMP/req.hdrs" -w '%{http_code}' \
        "${auth[@]}" "$@" "$I$path")
    BODY=$(cat "$TMP/req.body")
    HDRS=$(tr -d '\r' <"$TMP/req.hdrs")
}

# post_json PATH TOKEN JSON [CURL ARGS...]
post_json() {
    local path=$1 tok=$2 json=$3
    shift 3
    req POST "$path" "$tok" -H 'Content-Type: application/json' --data-binary "$json" "$@"
}

# jq_of EXPR: EXPR applied to BODY
jq_of() { jq -r "$1" <<<"$BODY"; }
