# t_pdf: the pdf job end to end, with a real worker, the fake platform and a
# small HTTP server that takes PUTs.
#  - delivered as a file (text read back with pdftotext, Russian and Greek
#    included; page count with pdfinfo), a Discord attachment in a channel
#    and in a DM, a Telegram document, and an HTTP PUT to an allowed URL
#  - refused: a URL off the allow-list, a PUT answered 403, a document over
#    the page limit, a name outside --pdf-dir: dead at once with the reason
#  - renders run off the loop: a noop job enqueued during a slow render
#    finishes while the render is still going
#  - the fleet-wide cap (--pdf-renders 1) holds: never two renders at once
#  - temporary files are gone after the jobs, and after a kill -9 the next
#    worker's start-up sweep removes what the dead one left
. "$(dirname "$0")/lib.sh"

Q=pdf
DTOKEN="pdf-$$-discord-secret"
TTOKEN="123456:pdf-$$-telegram-secret"
OUT=$TMP/out
PDFTMP=$TMP/pdftmp
PUTDIR=$TMP/put
mkdir -p "$PUTDIR"
SEM="$SLUICE_PREFIX:{sem:pdf}:renders"

start_redis
start_fake fake --discord-token "$DTOKEN" --telegram-token "$TTOKEN" --global-limit 0 \
    --bucket-limit 0 --telegram-chat-limit 0 --latency-ms 5
use_discord_fake "$DTOKEN"
export SLUICE_TELEGRAM_TOKEN="$TTOKEN" SLUICE_TELEGRAM_API="$U"

# a PUT target: stores the body under PUTDIR, answers 403 under /up/deny/
cat >"$TMP/put.py" <<'EOF'
import http.server, os, sys
root = sys.argv[1]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path.startswith("/up/deny/"):
            msg = b"not here"
            self.send_response(403)
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        name = os.path.basename(self.path.split("?")[0])
        with open(os.path.join(root, name), "wb") as f:
            f.write(body)
        with open(os.path.join(root, name + ".type"), "w") as f:
            f.write(self.headers.get("Content-Type", ""))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("listening", server.server_address[1], flush=True)
server.serve_forever()
EOF
start_bg put "$TMP/put.log" "$PY" "$TMP/put.py" "$PUTDIR"
PUT_PID=$LAST_PID
wait_until 10 'grep -q "^listening " "$TMP/put.log"' || die "the PUT server did not start"
PP=$(sed -n 's/^listening //p' "$TMP/put.log")

WORKER_ARGS=(--queues "pdf,noop" --concurrency 50 --pdf-threads 2 --pdf-renders 1
    --pdf-max-pages 300 --pdf-dir "$OUT" --tmp-dir "$PDFTMP"
    --pdf-put-allow "http://127.0.0.1:$PP/up/")
start_worker w1 "${WORKER_ARGS[@]}"

# pdf_job DELIVER [DOCUMENT [FILENAME]]: enqueue one pdf job, print its id
# (the payload goes through a file: a long document is too big for argv)
pdf_job() {
    local doc=${2:-'{"title": "Hello"}'} name=${3:-}
    printf '{"document": %s, "deliver": %s%s}' "$doc" "$1" "${name:+, \"filename\": \"$name\"}" \
        >"$TMP/payload.json"
    enqueue --type pdf --queue pdf --max-payload-bytes 4000000 --payload "@$TMP/payload.json"
}

# last_error ID: the job's last_error (the body may be too long for argv)
last_error() {
    job_body "$1" | "$PY" -c 'import json, sys; print(json.load(sys.stdin).get("last_error", ""))'
}

# ---------------------------------------------------------------- deliveries

DOC='{"title": "Quarterly report", "subtitle": "Sluice", "align": "justify",
  "paragraphs": ["The quick brown fox jumps over the lazy dog.",
                 "Съешь же ещё этих мягких французских булок, да выпей чаю.",
                 "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία."],
  "tables": [{"title": "Totals", "rows": [["Jobs", "1234"], ["Город", "Москва"]]}],
  "footer": {"text": "Confidential"}}'
LONG=$("$PY" -c 'import json; print(json.dumps({"title": "Long", "paragraphs":
    ["Paragraph %d. " % i + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 5
     for i in range(150)]}))')

file_id=$(pdf_job '{"file": {"name": "reports/q3.pdf"}}' "$DOC") || die "enqueue failed"
long_id=$(pdf_job '{"file": {"name": "long.pdf"}}' "$LONG") || die "enqueue failed"
pdf_job '{"discord": {"channel_id": "4242", "content": "Your report"}}' "$DOC" q3.pdf >/dev/null
pdf_job '{"discord": {"user_id": "777"}}' >/dev/null
pdf_job '{"telegram": {"chat_id": 555, "caption": "Отчёт"}}' "$DOC" report.pdf >/dev/null
pdf_job "{\"put\": {\"url\": \"http://127.0.0.1:$PP/up/put.pdf?sig=s3cr3t\"}}" "$DOC" >/dev/null
off_list=$(pdf_job "{\"put\": {\"url\": \"http://127.0.0.1:$PP/other/x.pdf\"}}") || die "enqueue"
denied=$(pdf_job "{\"put\": {\"url\": \"http://127.0.0.1:$PP/up/deny/x.pdf\"}}") || die "enqueue"
too_long=$(pdf_job '{"file": {"name": "too-long.pdf"}}' "$("$PY" -c 'import json
print(json.dumps({"paragraphs": ["Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 12] * 2000}))')") ||
    die "enqueue failed"
# written into Redis by hand: the producer would refuse it
escape_id=escape-$$
rcli set "$(k "job:$escape_id")" "{\"id\":\"$escape_id\",\"type\":\"pdf\",\"queue\":\"pdf\",\"payload\":{\"document\":{},\"deliver\":{\"file\":{\"name\":\"../escape.pdf\"}}}}" >/dev/null
rcli rpush "$(k ready:normal)" "$escape_id" >/dev/null

wait_until 60 '[ $(( $(stat_of processed) + $(zcard dead) )) -ge 10 ]' ||
    die "processed=$(stat_of processed) dead=$(zcard dead) of 10 after 60 s"
assert_eq 6 "$(stat_of processed)" "pdf jobs delivered"
assert_eq 4 "$(zcard dead)" "pdf jobs refused"

f="$OUT/reports/q3.pdf"
[ -s "$f" ] && ok "file delivered under --pdf-dir" || fail "$f is missing"
text=$(pdftotext -enc UTF-8 "$f" - 2>&1 | tr -s ' \n' '  ')
for want in "Quarterly report" "The quick brown fox jumps over the lazy dog." \
    "Съешь же ещё этих мягких французских булок, да выпей чаю." \
    "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία." "Город Москва" "Confidential" "Page 1 of 1"; do
    assert_contains "$text" "$want" "pdftotext of reports/q3.pdf"
done
pages=$(pdfinfo "$OUT/long.pdf" | sed -n 's/^Pages: *//p')
[ "${pages:-0}" -ge 5 ] && ok "the long document has $pages pages" || fail "long.pdf pages=$pages"
assert_contains "$(pdftotext -f "$pages" -l "$pages" "$OUT/long.pdf" -)" \
    "Page $pages of $pages" "the last page's footer"
assert_eq "" "$(ls -A "$OUT" | grep '^\.sluice-part-')" "partial files left in --pdf-dir"

msgs=$(curl -s "$U/_fake/messages?channel_id=4242")
assert_eq "Your report" "$(jq -r '.messages[0].content' <<<"$msgs")" "Discord message text"
assert_eq "q3.pdf" "$(jq -r '.messages[0].attachments[0].filename' <<<"$msgs")" \
    "Discord attachment name"
assert_eq "application/pdf" "$(jq -r '.messages[0].attachments[0].content_type' <<<"$msgs")" \
    "Discord attachment type"
size=$(jq -r '.messages[0].attachments[0].size' <<<"$msgs")
[ "$size" -gt 5000 ] && ok "Discord attachment of $size bytes" || fail "attachment size=$size"
stats=$(curl -s "$U/_fake/stats")
assert_eq 2 "$(jq .deliveries_discord <<<"$stats")" "Discord deliveries (a channel and a DM)"
assert_eq 1 "$(jq '.requests.dm | add' <<<"$stats")" "DM channel opened"
tg=$(curl -s "$U/_fake/messages?chat_id=555")
assert_eq "report.pdf" "$(jq -r '.messages[0].attachments[0].file_name' <<<"$tg")" \
    "Telegram document name"
assert_eq "application/pdf" "$(jq -r '.messages[0].attachments[0].mime_type' <<<"$tg")" \
    "Telegram document type"

assert_contains "$(pdftotext "$PUTDIR/put.pdf" - 2>&1)" "Quarterly report" "the PUT's PDF"
assert_eq "application/pdf" "$(cat "$PUTDIR/put.pdf.type")" "the PUT's Content-Type"
err=$(json_get "$(job_body "$off_list")" last_error)
assert_contains "$err" "deliver.put.url: http://127.0.0.1:$PP/other/x.pdf is refused" \
    "URL off the allow-list"
assert_contains "$err" "no prefix of --pdf-put-allow" "URL off the allow-list"
assert_eq 1 "$(json_get "$(job_body "$off_list")" attempts)" "the refused URL took one attempt"
assert_contains "$(json_get "$(job_body "$denied")" last_error)" "put 403: not here" "PUT answered 403"
assert_contains "$(last_error "$too_long")" "at most 300 (max_pages)" \
    "document over the page limit"
assert_contains "$(json_get "$(job_body "$escape_id")" last_error)" "deliver.file.name" \
    "a name outside --pdf-dir"
[ ! -e "$TMP/escape.pdf" ] && ok "nothing written outside --pdf-dir" || fail "escape.pdf exists"
assert_not_contains "$(cat "$(log_of w1)")" "s3cr3t" "the PUT URL's query in the log"

# ---------------------------------------------------------------- off the loop, under the cap

SLOW=$("$PY" -c 'import json; print(json.dumps({"title": "Slow", "paragraphs":
    ["Paragraph %d. " % i + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 10
     for i in range(1500)]}))')
before=$(stat_of processed)
pdf_job '{"file": {"name": "slow1.pdf"}}' "$SLOW" >/dev/null || die "enqueue failed"
pdf_job '{"file": {"name": "slow2.pdf"}}' "$SLOW" >/dev/null || die "enqueue failed"
wait_until 30 '[ -n "$(ls -A "$PDFTMP")" ]' || die "no render started"
noop_id=$(enqueue --type noop --queue noop) || die "enqueue failed"
wait_until 10 '[ "$(stat_of processed noop)" -ge 1 ]' || fail "the noop job did not run"
busy=$(ls -A "$PDFTMP" | wc -l)
[ "$busy" -ge 1 ] && ok "the noop job finished while a render was running" ||
    fail "no render was running when the noop job finished: the test proves nothing"
created=$(json_get "$(job_body "$noop_id" noop)" created_ms)
finished=$(rcli zscore "$(k done noop)" "$noop_id")
lat=$(( ${finished%.*} - created ))
say "# the noop job took $lat ms from enqueue to done during the render"

# with --pdf-renders 1 and two threads, never two temporary files at once
most=0
while [ "$(stat_of processed)" -lt $((before + 2)) ] && [ "$(zcard dead)" -eq 4 ]; do
    n=$(ls -A "$PDFTMP" | wc -l)
    [ "$n" -gt "$most" ] && most=$n
    h=$(rcli zcard "$SEM")
    [ "$h" -gt "$most" ] && most=$h
    sleep 0.02
done
assert_eq $((before + 2)) "$(stat_of processed)" "slow renders delivered"
assert_eq 1 "$most" "renders at once under --pdf-renders 1 (files and holders seen)"
assert_eq 0 "$(rcli exists "$SEM")" "render places left in Redis"
assert_eq "" "$(ls -A "$PDFTMP")" "temporary files after the jobs"

# ---------------------------------------------------------------- kill -9 mid-render

pdf_job '{"file": {"name": "slow3.pdf"}}' "$SLOW" >/dev/null || die "enqueue failed"
wait_until 30 '[ -n "$(ls -A "$PDFTMP")" ]' || die "the render did not start"
left=$(ls -A "$PDFTMP")
kill -KILL "$(pid_of w1)"
wait_until 5 '! alive "$(pid_of w1)"' || fail "w1 survived SIGKILL"
reap "$(pid_of w1)"
[ -e "$PDFTMP/$left" ] && ok "the dead worker left $left" || fail "no file left to sweep"
assert_eq 1 "$(rcli zcard "$SEM")" "the dead worker's place, until it runs out"
[ "$(rcli pttl "$SEM")" -gt 0 ] && ok "the place runs out by itself" || fail "no expiry on $SEM"
start_worker w2 "${WORKER_ARGS[@]}" --queues noop
wait_until 10 '[ ! -e "$PDFTMP/$left" ]' || fail "the start-up sweep left $left"
assert_contains "$(cat "$(log_of w2)")" "removed 1 temporary file" "the sweep in the log"
stop "$(pid_of w2)"
assert_eq 0 "$STOP_STATUS" "w2 exit status"

for f in "$TMP"/w*.log; do
    assert_not_contains "$(cat "$f")" "$DTOKEN" "Discord token in $(basename "$f")"
    assert_not_contains "$(cat "$f")" "pdf-$$-telegram-secret" "Telegram token in $(basename "$f")"
done
stop "$PUT_PID"
stop "$FAKE_PID"
assert_nothing_running
finish
