# t_result_apps: interview and pdf jobs return where their work went.
#  - interview: {"channel_id", "application_id"}, the channel the fake made
#    for the applicant (and the one in the application's record); a second
#    job for the same application, found registered, names the same channel.
#  - pdf: {"delivered": "discord" | "telegram" | "file" | "url", ...} with
#    the fake's message id, the file's name, or the URL without its query
#    and the PUT's status; and the document's pages and bytes.
. "$(dirname "$0")/lib.sh"

DTOKEN="apps-$$-discord"
TTOKEN="434343:apps-$$-tg"
OUT=$TMP/out
PUTDIR=$TMP/put
mkdir -p "$OUT" "$PUTDIR" "$TMP/pdftmp"
start_redis
start_fake fake --discord-token "$DTOKEN" --telegram-token "$TTOKEN" --global-limit 0 \
    --bucket-limit 0 --telegram-chat-limit 0
use_discord_fake "$DTOKEN"
export SLUICE_TELEGRAM_TOKEN="$TTOKEN" SLUICE_TELEGRAM_API="$U"
CTL="$SLUICE_BIN/sluice-ctl"

cat >"$TMP/put.py" <<'PYEOF'
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("listening", server.server_address[1], flush=True)
server.serve_forever()
PYEOF
start_bg put "$TMP/put.log" "$PY" "$TMP/put.py"
PUT_PID=$LAST_PID
wait_until 10 'grep -q "^listening " "$TMP/put.log"' || die "the PUT server did not start"
PP=$(sed -n 's/^listening //p' "$TMP/put.log")

# res JOB QUEUE EXPR: a python expression on the stored result r
res() { job_body "$1" "$2" | "$PY" -c 'import json, sys
r = json.load(sys.stdin).get("result")
print(eval(sys.argv[1]))' "$3"; }

iv='{"guild_id": "910", "user_id": "910001", "application_id": "app-910001",
  "reviewer_role_id": "77", "intro": {"template": "Hello {user}"},
  "followup": {"reminders": 0}, "approval": {"role_id": "555"}}'
i1=$(enqueue --type interview --payload "$iv") || die "enqueue interview"
pdf() { printf '{"document": {"title": "Hello"}, "deliver": %s}' "$1" >"$TMP/p.json"
    enqueue --type pdf --queue pdf --payload "@$TMP/p.json"; }
p1=$(pdf '{"discord": {"channel_id": "4242", "content": "Your report"}}') || die "enqueue pdf"
p2=$(pdf '{"telegram": {"chat_id": 555}}') || die "enqueue pdf"
p3=$(pdf '{"file": {"name": "reports/q3.pdf"}}') || die "enqueue pdf"
p4=$(pdf "{\"put\": {\"url\": \"http://127.0.0.1:$PP/up/a.pdf?sig=s3cr3t\"}}") || die "enqueue pdf"
start_worker w1 --queues interview,pdf --concurrency 20 --pdf-dir "$OUT" --tmp-dir "$TMP/pdftmp" \
    --pdf-put-allow "http://127.0.0.1:$PP/up/"
wait_until 30 '[ "$(zcard done interview)" -ge 1 ] && [ "$(zcard done pdf)" -ge 4 ]' ||
    fail "done: interview $(zcard done interview) of 1, pdf $(zcard done pdf) of 4"

ch=$(rcli hget "$SLUICE_PREFIX:{app}:app:app-910001" channel)
[ -n "$ch" ] || fail "the application has no channel"
assert_eq "$ch" "$(res "$i1" interview 'r["channel_id"]')" "interview result: the applicant's channel"
assert_eq app-910001 "$(res "$i1" interview 'r["application_id"]')" "interview result: application"
assert_eq "$ch" "$("$CTL" show "$i1" --json | jq -r .result.channel_id)" \
    "sluice-ctl show --json: the interview's channel"
i2=$(enqueue --type interview --payload "$iv") || die "enqueue interview"
wait_until 20 '[ "$(zcard done interview)" -ge 2 ]' || fail "the second interview job is not done"
assert_eq "$ch" "$(res "$i2" interview 'r["channel_id"]')" \
    "interview found registered: the same channel"

d_id=$(curl -s "$U/_fake/messages?channel_id=4242" | jq -r '.messages[0].id')
assert_eq "discord 4242 $d_id" "$(res "$p1" pdf 'r["delivered"], r["channel_id"], r["message_id"]' |
    tr -d "(),'")" "pdf to discord: channel and the fake's message id"
t_id=$(curl -s "$U/_fake/messages?chat_id=555" | jq -r '.messages[0].id')
assert_eq "telegram 555 $t_id" "$(res "$p2" pdf 'r["delivered"], r["chat_id"], r["message_id"]' |
    tr -d "(),'")" "pdf to telegram: chat and the fake's message id"
assert_eq "file reports/q3.pdf" "$(res "$p3" pdf 'r["delivered"], r["file"]' | tr -d "(),'")" \
    "pdf to a file: its name"
assert_eq "url http://127.0.0.1:$PP/up/a.pdf 201" \
    "$(res "$p4" pdf 'r["delivered"], r["url"], r["status"]' | tr -d "(),'")" \
    "pdf to a URL: the URL without its query, the status"
assert_not_contains "$(res "$p4" pdf 'json.dumps(r)')" "s3cr3t" "the URL's query in the result"
assert_eq "1 True" "$(res "$p3" pdf 'r["pages"], r["bytes"] > 500' | tr -d "(),'")" \
    "pdf result: pages and bytes"
stop "$(pid_of w1)"
stop "$PUT_PID"
stop "$FAKE_PID"
assert_nothing_running
finish
