# t_approval: the approval sweep.
#  - by role: members given the approved role are welcomed, once;
#  - by a frontend status URL: "approved", "rejected", "pending";
#  - past the deadline: expired;
#  - sweeps come from whichever scheduler leads: the leader is killed with
#    -9 mid-run, and every decision's message is still posted exactly once.
. "$(dirname "$0")/lib.sh"

TOKEN="approval-$$-secret-token"
start_redis
start_fake fake --discord-token "$TOKEN" --global-limit 50 --bucket-limit 0
use_discord_fake "$TOKEN"

# the frontend: GET /status/APP answers {"status": ...} from a JSON file
echo '{}' >"$TMP/status.json"
SPORT=$(free_port)
"$PY" -c '
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        st = json.load(open(sys.argv[2])).get(self.path.rsplit("/", 1)[-1], "pending")
        b = json.dumps({"status": st}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(b)))
        self.send_header("Content-Type", "application/json"); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$SPORT" "$TMP/status.json" &
STATUS_PID=$!
ALL_PIDS+=($STATUS_PID)
wait_until 10 "curl -s http://127.0.0.1:$SPORT/status/x >/dev/null" || die "status server"

N=30 # applicants 0..29: role-checked; 30..33 frontend-checked; 34 expires
{
    for ((i = 0; i < N; i++)); do
        printf '{"type":"interview","payload":{"guild_id":"920","user_id":"%d","application_id":"a-%d","intro":{"template":"hi"},"followup":{"reminders":0},"approval":{"role_id":"555","deadline_s":600,"welcome":"welcome {user}","rejection":"sorry {user}"}}}\n' $((92000 + i)) $i
    done
    for i in 30 31 32 33; do
        printf '{"type":"interview","payload":{"guild_id":"920","user_id":"%d","application_id":"a-%d","intro":{"template":"hi"},"followup":{"reminders":0},"approval":{"status_url":"http://127.0.0.1:%s/status/a-%d","deadline_s":600,"welcome":"welcome {user}","rejection":"sorry {user}"}}}\n' $((92000 + i)) $i "$SPORT" $i
    done
    printf '{"type":"interview","payload":{"guild_id":"920","user_id":"92034","application_id":"a-34","intro":{"template":"hi"},"followup":{"reminders":0},"approval":{"role_id":"555","deadline_s":3,"expiry":"expired {user}"}}}\n'
} >"$TMP/apps.ndjson"
producer enqueue --ndjson "$TMP/apps.ndjson" >/dev/null || die "enqueue failed"
start_worker w1 --queues approval,interview,message --concurrency 200
start_worker w2 --queues approval,interview,message --concurrency 200
start_scheduler s1 --reap-ms 200 --approval-interval-ms 300
start_scheduler s2 --reap-ms 200 --approval-interval-ms 300
wait_until 20 '[ "$(stat_of processed interview)" -ge 35 ]' || die "interviews not done"
assert_eq 35 "$(rcli zcard "$SLUICE_PREFIX:{app}:pending")" "applications pending"
sweeps() { cat "$(log_of w1)" "$(log_of w2)" | grep -c "approval sweep done"; }
wait_until 10 '[ "$(sweeps)" -ge 2 ]' || die "no approval sweep finished"
assert_eq 0 "$(stat_of processed message)" "decision messages after two sweeps with nobody decided"

# half of the role-checked become members with the role, in two waves
roles() {
    local from=$1 to=$2 j="{" sep=""
    for ((i = from; i < to; i++)); do j+="$sep\"920/$((92000 + i))\":[\"555\",\"1\"]"; sep=","; done
    curl -s -o /dev/null -d "{\"member_roles\":$j}}" "$U/_fake/config"
}
roles 0 8
echo '{"a-30":"approved","a-31":"rejected","a-32":"pending"}' >"$TMP/status.json"
wait_until 10 '[ "$(rcli hget "$SLUICE_PREFIX:{app}:app:a-0" state)" = approved ]' ||
    die "the first wave was not approved"
leader=$(rcli get "$SLUICE_PREFIX:scheduler:leader")
case $leader in s1-*) victim=s1 ;; *) victim=s2 ;; esac
kill -9 "$(pid_of $victim)"
reap "$(pid_of $victim)"
roles 8 15
echo '{"a-30":"approved","a-31":"rejected","a-32":"pending","a-33":"approved"}' >"$TMP/status.json"
wait_until 20 '[ "$(rcli zcard "$SLUICE_PREFIX:{app}:pending")" -le 16 ] &&
               [ "$(rcli zcard "$SLUICE_PREFIX:{app}:notify")" = 0 ]' ||
    die "pending=$(rcli zcard "$SLUICE_PREFIX:{app}:pending") after the second wave"
n=$(sweeps) # three more sweeps: nothing may be posted twice
wait_until 10 '[ "$(sweeps)" -ge $((n + 3)) ] && [ "$(ready_total message)" = 0 ] &&
               [ "$(zcard active message)" = 0 ]' || die "sweeps or messages stopped"
state() { rcli hget "$SLUICE_PREFIX:{app}:app:a-$1" state; }
count=0
for ((i = 0; i < 15; i++)); do [ "$(state $i)" = approved ] && count=$((count + 1)); done
assert_eq 15 "$count" "approved by role"
assert_eq interviewing "$(state 15)" "no role yet: still pending"
assert_eq approved "$(state 30)" "approved by the frontend"
assert_eq rejected "$(state 31)" "rejected by the frontend"
assert_eq interviewing "$(state 32)" "pending at the frontend"
assert_eq approved "$(state 33)" "approved by the frontend in the second wave"
assert_eq expired "$(state 34)" "past its deadline"
assert_eq 16 "$(rcli zcard "$SLUICE_PREFIX:{app}:pending")" "still pending"
posts() { curl -s "$U/_fake/messages?channel_id=$(rcli hget "$SLUICE_PREFIX:{app}:app:a-$1" channel)" |
    jq --arg t "$2" '[.contents[] | select(startswith($t))] | length'; }
bad=0
for i in $(seq 0 14) 30 33; do [ "$(posts $i welcome)" = 1 ] || bad=$((bad + 1)); done
assert_eq 0 "$bad" "approved applicants not welcomed exactly once"
assert_eq 1 "$(posts 31 sorry)" "rejection messages"
assert_eq 1 "$(posts 34 expired)" "expiry messages"
assert_eq 0 "$(posts 15 welcome)" "welcomes to the undecided"
assert_eq 0 "$(curl -s "$U/_fake/stats" | jq .duplicates)" "messages delivered twice"
assert_eq 0 "$(curl -s "$U/_fake/stats" | jq '.rate_limited.global // 0')" "global 429s"
assert_eq 0 "$(stat_of dead approval)" "dead sweeps"
# what an operator sees
apps=$("$SLUICE_BIN/sluice-ctl" apps --json)
assert_eq '{"interviewing":16,"approved":17,"rejected":1,"expired":1,"other":0}' \
    "$(jq -c .states <<<"$apps")" "sluice-ctl apps: states"
assert_eq 16 "$(jq .pending <<<"$apps")" "sluice-ctl apps: pending"
assert_contains "$("$SLUICE_BIN/sluice-ctl" app a-31)" "state: rejected" "sluice-ctl app a-31"
"$SLUICE_BIN/sluice-ctl" app nope >/dev/null 2>&1
assert_eq 1 "$?" "sluice-ctl app for an unknown id: exit status"
# the end: what was not killed stops on SIGTERM, and nothing is left running
survivor=s1
[ "$victim" = s1 ] && survivor=s2
for n in w1 w2 "$survivor"; do
    stop "$(pid_of "$n")"
    assert_eq 0 "$STOP_STATUS" "$n: exit status after SIGTERM"
done
stop "$STATUS_PID"
stop "$FAKE_PID"
assert_nothing_running
finish
