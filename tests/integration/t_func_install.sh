# t_func_install: sluice-ctl install upgrades what an older Sluice loaded and
# never downgrades:
#  - an older library (version 0, whose sluice_enqueue answers "old"): install
#    says "upgraded from version 0 to V" (V: this build's version), FCALL
#    then enqueues for real, and a second install says "already at version V"
#  - a library named sluice without sluice_version: "upgraded from a library
#    without a version"
#  - a newer library (version 99): left as it is, exit status 1
#  - --print is the library FUNCTION LOAD takes; the functions survive a
#    Redis restart (AOF)
#  - a worker started with no library, and a scheduler with an older one,
#    say in their logs what to run
. "$(dirname "$0")/lib.sh"

CTL=$SLUICE_BIN/sluice-ctl
# the version this build carries
V=$("$CTL" install --print | sed -n 's/^local SLUICE_VERSION = \([0-9]*\).*/\1/p')
[[ $V =~ ^[0-9]+$ ]] || fail "no SLUICE_VERSION in sluice-ctl install --print"
start_redis --aof

# a worker started with no library says what to run (once), and works on
start_worker w0 --queues q
wait_until 10 'grep -q "function library" "$(log_of w0)"' || fail "the worker said nothing of the library"
assert_contains "$(grep "function library" "$(log_of w0)")" \
    "Redis has none; frontends that enqueue with FCALL sluice_enqueue need version $V: run \`sluice-ctl install\`" \
    "a worker with no library loaded"
stop "$(pid_of w0)"

# fake LIBRARY_TEXT: loads a hand-written library named sluice
fake() { printf '%s\n' "$1" | rcli -x function load replace >/dev/null; }

fake '#!lua name=sluice
redis.register_function("sluice_enqueue", function() return "old" end)
redis.register_function{function_name = "sluice_version", flags = {"no-writes"},
    callback = function() return 0 end}'
assert_eq old "$(rcli fcall sluice_enqueue 1 "$SLUICE_PREFIX:{q}" '{}')" "the old library answers"
out=$("$CTL" install --check 2>&1)
assert_eq 1 "$?" "install --check exit status with version 0"
assert_contains "$out" "version 0 loaded (this sluice-ctl has version $V): run sluice-ctl install" "install --check"
# a scheduler started against the older library warns, naming the versions
start_scheduler s0
wait_until 10 'grep -q "function library" "$(log_of s0)"' || fail "the scheduler said nothing of the library"
assert_contains "$(grep "function library" "$(log_of s0)")" \
    "Redis has version 0, this build carries $V: run \`sluice-ctl install\`" "a scheduler with version 0"
stop "$(pid_of s0)"
assert_eq "sluice function library: upgraded from version 0 to $V" "$("$CTL" install 2>&1)" \
    "install over version 0"
id=$(rcli fcall sluice_enqueue 1 "$SLUICE_PREFIX:{q}" '{"type":"noop","payload":{}}')
[[ $id =~ ^[0-9A-Z]{26}$ ]] && ok "after the upgrade FCALL enqueues ($id)" || fail "FCALL replied '$id'"
assert_eq 1 "$(llen normal)" "the job is in ready:normal"
assert_eq "sluice function library: already at version $V" "$("$CTL" install 2>&1)" "install again"
assert_eq 1 "$(rcli function list | grep -c '^sluice$')" "one library named sluice"

fake '#!lua name=sluice
redis.register_function("sluice_enqueue", function() return "older" end)'
assert_eq "sluice function library: upgraded from a library without a version to $V" \
    "$("$CTL" install 2>&1)" "install over a library without a version"

fake '#!lua name=sluice
redis.register_function{function_name = "sluice_version", flags = {"no-writes"},
    callback = function() return 99 end}'
out=$("$CTL" install 2>&1)
assert_eq 1 "$?" "install exit status with a newer library"
assert_contains "$out" "Redis has version 99, newer than this sluice-ctl's $V: left as it is" \
    "a newer library is not replaced"
assert_eq 99 "$(rcli fcall_ro sluice_version 0)" "version 99 still loaded"

# --print: what FUNCTION LOAD takes, with the CLI's enqueue inside
"$CTL" install --print >"$TMP/sluice.lua" || fail "install --print"
assert_eq '#!lua name=sluice' "$(head -1 "$TMP/sluice.lua")" "install --print: the library's first line"
grep -q '^local function enqueue_jobs(keys, argv, now)$' "$TMP/sluice.lua" &&
    ok "the library carries lib_enqueue.lua's enqueue_jobs" || fail "no enqueue_jobs in the library"
rcli -x function load replace <"$TMP/sluice.lua" >/dev/null
assert_eq "$V" "$(rcli fcall_ro sluice_version 0)" "the printed library loads by hand"

restart_redis
assert_eq "$V" "$(rcli fcall_ro sluice_version 0)" "the library after a Redis restart"
assert_eq "sluice function library: already at version $V" "$("$CTL" install 2>&1)" \
    "install after the restart"

assert_nothing_running
finish
