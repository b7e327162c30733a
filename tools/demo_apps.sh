#!/usr/bin/env bash
# The application bot's scenario (README, What it is for): 140
# applications arrive at once; Sluice opens an interview channel for each
# (a guild listing per worker for all its jobs), posts the intros, reminds
# applicants who post no image, watches for approval (a role on the member,
# or the frontend's answer) and posts the decision. The fake Discord has the latencies the
# bot's author reported (open 200 ms, list 100 ms, send 200 ms) and Discord's
# global limit (50/s) and route buckets. Live progress, then a summary with
# per-stage timings against the floor the limits allow.
# The applications arrive as a real frontend sends them: HTTP POSTs to the
# intake (sluice-producer serve) with a bearer token made by `token new`
# (kept in a mode-600 file, never shown) and an Idempotency-Key each; the
# frontend then reads outcomes back with GET /v1/jobs/ID and ?wait.
# Run by `make demo` (after the core demo) or alone: bash tools/demo_apps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SLUICE_BIN:-$PWD/bin}
VAR=$PWD/var/demo-apps
N=${DEMO_APPS:-140}
rm -rf "$VAR"
mkdir -p "$VAR"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    [ -f "$VAR/redis.pid" ] && kill "$(cat "$VAR/redis.pid")" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

port=$(freeport)
printf 'bind 127.0.0.1\nport %s\ndir %s\nsave ""\npidfile %s/redis.pid\nlogfile %s/redis.log\ndaemonize yes\n' \
    "$port" "$VAR" "$VAR" "$VAR" >"$VAR/redis.conf"
redis-server "$VAR/redis.conf"
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
export SLUICE_REDIS_URL="redis://127.0.0.1:$port/0" SLUICE_PREFIX=apps
R() { redis-cli -p "$port" "$@"; }

TOKEN="demo-$$-$RANDOM-token"
printf '%s\n' "$TOKEN" >"$VAR/discord.token"
chmod 600 "$VAR/discord.token"
"$BIN/sluice-fake-platform" --discord-token "$TOKEN" --global-limit 50 --bucket-limit 50 \
    --bucket-window-ms 1000 --latency dm=200 --latency create_channel=200 \
    --latency list_channels=100 --latency create_message=200 --latency get_member=100 \
    --log "$VAR/fake.jsonl" >"$VAR/fake.out" 2>"$VAR/fake.log" & pids+=($!)
for _ in $(seq 100); do grep -q '^listening' "$VAR/fake.out" 2>/dev/null && break; sleep 0.05; done
U="http://127.0.0.1:$(sed -n 's/^listening 127\.0\.0\.1://p' "$VAR/fake.out")"
export SLUICE_DISCORD_TOKEN_FILE="$VAR/discord.token" SLUICE_DISCORD_API="$U/api/v10"

# the bot frontend's status endpoint: GET /status/APP -> {"status": ...}
sport=$(freeport)
echo '{}' >"$VAR/status.json"
python3 -c '
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        st = json.load(open(sys.argv[2])).get(self.path.rsplit("/", 1)[-1], "pending")
        b = json.dumps({"status": st}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$sport" "$VAR/status.json" & pids+=($!)

echo "== fake Discord on $U: global 50/s, buckets, open 200 ms, list 100 ms, send 200 ms"

# the HTTP intake, with one token for the frontend: its hash goes into the
# tokens file, the token itself into a mode-600 file only the frontend reads
(
    umask 077
    "$BIN/sluice-producer" token new --queues interview --types interview --rate 500 \
        --name apps-frontend 2>/dev/null >"$VAR/token.new"
    sed -n 1p "$VAR/token.new" >"$VAR/frontend.token"
    sed -n 2p "$VAR/token.new" >"$VAR/tokens"
    rm -f "$VAR/token.new"
)
iport=$(freeport)
I="http://127.0.0.1:$iport"
"$BIN/sluice-producer" serve --listen "127.0.0.1:$iport" --tokens-file "$VAR/tokens" \
    >"$VAR/intake.log" 2>&1 & intake_pid=$!
pids+=($intake_pid)
for _ in $(seq 100); do curl -sf "$I/readyz" >/dev/null && break; sleep 0.05; done
curl -sf "$I/readyz" >/dev/null || { echo "demo: the intake did not start:"; tail -5 "$VAR/intake.log"; exit 1; }
echo "== HTTP intake (sluice-producer serve) on $I; the frontend's token: var/demo-apps/frontend.token (mode 600, not shown)"

"$BIN/sluice-scheduler" --reap-ms 200 --approval-interval-ms 10000 >"$VAR/scheduler.log" 2>&1 & pids+=($!)
for i in 1 2; do
    "$BIN/sluice-worker" --id "apps-worker-$i" --queues approval,interview,followup,message,pdf \
        --concurrency 200 --pdf-dir "$VAR/reports" --tmp-dir "$VAR/tmp" \
        >"$VAR/worker-$i.log" 2>&1 & pids+=($!)
done
echo "== scheduler (approval sweep every 10 s) and 2 workers started"

python3 - "$VAR" "$N" "$sport" <<'PY'
import json, sys
var, n, sport = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(var + "/apps.ndjson", "w") as f:
    for i in range(n):
        user = str(7000000 + i)
        approval = {"role_id": "555", "deadline_s": 25,
                    "welcome": "Welcome aboard, {user}! You now have access to the server.",
                    "rejection": "Sorry {user}, your application was not accepted.",
                    "expiry": "{user}, your application expired without a decision."}
        if i % 7 == 6:  # these are decided by the frontend, not by a role
            approval["status_url"] = "http://127.0.0.1:%s/status/app-%d" % (sport, i)
        f.write(json.dumps({"type": "interview", "payload": {
            "guild_id": "4242", "user_id": user, "application_id": "app-%d" % i,
            "reviewer_role_id": "900",
            "intro": {"template": "Hi {user}! Thanks for applying as {role}. Please post a "
                      "screenshot of your profile here.", "vars": {"role": "moderator"}},
            "followup": {"after_s": 8, "reminders": 2, "interval_s": 5},
            "approval": approval}}) + "\n")
PY

# the bot frontend: posts each application to the intake as it arrives, over
# 4 keep-alive connections, with its bearer token and an Idempotency-Key per
# application; re-sends one (as after a lost answer); then holds a ?wait on
# the last application's job until its interview is open
python3 - "$VAR" "$iport" <<'PY' >"$VAR/frontend.log" 2>&1 &
import http.client, json, os, queue, sys, threading, time
var, iport = sys.argv[1], int(sys.argv[2])
token = open(var + "/frontend.token").read().strip()
apps = [json.loads(l) for l in open(var + "/apps.ndjson")]
posts = open(var + "/posts.log", "w", buffering=1)  # "i status ms" per answer
lock, ids, todo = threading.Lock(), [None] * len(apps), queue.Queue()
for i in range(len(apps)):
    todo.put(i)
def post(conn, app):
    body = json.dumps(app).encode()
    while True:
        conn.request("POST", "/v1/jobs", body, {
            "Authorization": "Bearer " + token, "Content-Type": "application/json",
            "Idempotency-Key": "apply:" + app["payload"]["application_id"]})
        resp = conn.getresponse()
        answer = json.loads(resp.read() or b"{}")
        if resp.status == 429:  # over the token's quota: as told, then again
            time.sleep(float(resp.getheader("Retry-After", "1")))
            continue
        return resp.status, answer
def sender():
    conn = http.client.HTTPConnection("127.0.0.1", iport, timeout=30)
    while True:
        try:
            i = todo.get_nowait()
        except queue.Empty:
            return conn.close()
        t = time.time()
        status, answer = post(conn, apps[i])
        ms = (time.time() - t) * 1000
        with lock:
            ids[i] = answer.get("id")
            posts.write("%d %d %.2f%s\n" % (i, status, ms, "" if status == 201 else " " + json.dumps(answer)))
t0 = time.time()
with open(var + "/first-post.ms.tmp", "w") as f:
    f.write("%d\n" % (t0 * 1000))
os.replace(var + "/first-post.ms.tmp", var + "/first-post.ms")
threads = [threading.Thread(target=sender) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
took = (time.time() - t0) * 1000
with open(var + "/ids.txt", "w") as f:
    f.write("".join("%s\n" % i for i in ids))
conn = http.client.HTTPConnection("127.0.0.1", iport, timeout=90)
status, again = post(conn, apps[5])
def get(path):
    conn.request("GET", path, headers={"Authorization": "Bearer " + token})
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read())
last = len(apps) - 1
t = time.time()
wstatus, waited = get("/v1/jobs/%s?wait=30" % ids[last])
answered = time.time()
json.dump({"t0_ms": int(t0 * 1000), "took_ms": took, "resent": {"app": 5, "status": status, "id": again.get("id"), "first": ids[5]},
           "wait": {"app": last, "id": ids[last], "status": wstatus, "sent": t, "answered": answered,
                    "job": waited}}, open(var + "/frontend.json", "w"))
PY
front_pid=$!
pids+=($front_pid)
for _ in $(seq 400); do [ -s "$VAR/first-post.ms" ] || ! kill -0 "$front_pid" 2>/dev/null && break; sleep 0.05; done
[ -s "$VAR/first-post.ms" ] || { echo "demo: the frontend did not start:"; tail -5 "$VAR/frontend.log"; exit 1; }
t0=$(cat "$VAR/first-post.ms")
echo "== $N applications arrive at once, POSTed to the intake; the frontend's actions play out below"

# the applicants and reviewers: images, roles, frontend decisions over time
python3 - "$VAR" "$N" "$U" "$port" <<'PY' >"$VAR/actors.log" 2>&1 &
import json, subprocess, sys, time, urllib.request
var, n, u, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def cfg(doc):
    urllib.request.urlopen(urllib.request.Request(u + "/_fake/config", json.dumps(doc).encode())).read()
def channel(i):
    out = subprocess.run(["redis-cli", "-p", port, "HGET", "apps:{app}:app:app-%d" % i, "channel"],
                         capture_output=True, text=True).stdout.strip()
    return out or None
posted, t = set(), time.time()
while time.time() - t < 30:
    el = time.time() - t
    for i in range(n):
        # a third post their image early (before the first reminder), a few late
        due = 2.0 if i % 3 == 0 else (10.0 if i % 10 == 1 else None)
        if due and el >= due and i not in posted and channel(i):
            cfg({"post_message": {"channel_id": channel(i), "author_id": str(7000000 + i),
                 "content": "here you go", "attachments": [{"filename": "profile.png",
                 "content_type": "image/png", "size": 48213}]}})
            posted.add(i)
    # reviewers give the role to 60% of the role-checked, in waves from 6 s
    roles = {"4242/%d" % (7000000 + i): ["555"] for i in range(n)
             if i % 7 != 6 and i % 5 < 3 and el >= 6 + (i % 4) * 2}
    cfg({"member_roles": roles})
    st = {"app-%d" % i: ("approved" if i % 2 else "rejected") for i in range(n) if i % 7 == 6 and el >= 8}
    json.dump(st, open(var + "/status.json.tmp", "w"))
    import os; os.replace(var + "/status.json.tmp", var + "/status.json")
    time.sleep(0.5)
PY
pids+=($!)

echo "== live progress"
while :; do
    now=$(python3 -c 'import time;print(int(time.time()*1000))')
    el=$((now - t0))
    opened=$(R HGET 'apps:{interview}:stats' processed)
    pend=$(R ZCARD 'apps:{app}:pending')
    fu=$(R HGET 'apps:{followup}:stats' processed)
    msgs=$(R HGET 'apps:{message}:stats' processed)
    st=$(curl -s "$U/_fake/stats")
    acc=$(grep -c '^[0-9]* 201 ' "$VAR/posts.log" 2>/dev/null || true)
    printf '\r   %3d.%ds  intake 201s %s/%s  interviews open %s/%s  pending %-4s  follow-up checks %-4s decision messages %-4s | fake: requests %-5s 429s %s ' \
        $((el / 1000)) $((el % 1000 / 100)) "${acc:-0}" "$N" "${opened:-0}" "$N" "$pend" "${fu:-0}" "${msgs:-0}" \
        "$(jq .requests_total <<<"$st")" "$(jq '[.rate_limited[]] | add // 0' <<<"$st")"
    if [ "${acc:-0}" -lt "$N" ] && ! kill -0 "$front_pid" 2>/dev/null; then
        echo; echo "demo: the intake accepted ${acc:-0} of $N applications:"
        grep -v '^[0-9]* 201 ' "$VAR/posts.log" | head -3; tail -3 "$VAR/frontend.log"; exit 1
    fi
    [ "${opened:-0}" -ge "$N" ] && [ -z "${t_open:-}" ] && t_open=$el
    if [ "${opened:-0}" -ge "$N" ] && [ "$pend" = 0 ] && [ "$(R ZCARD 'apps:{app}:notify')" = 0 ] &&
        [ "$(R LLEN 'apps:{message}:ready:high')" = 0 ] && [ "$(R ZCARD 'apps:{message}:active')" = 0 ]; then
        break
    fi
    if [ "$el" -gt 90000 ]; then echo; echo "demo: not finished after 90 s"; exit 1; fi
    sleep 0.5
done
echo
echo "== every application decided; rendering PDF reports (welcome packs + the reviewers' summary)"
python3 - "$VAR" "$N" "$port" <<'PY'
import json, subprocess, sys
var, n, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def hget(i, f):
    return subprocess.run(["redis-cli", "-p", port, "HGET", "apps:{app}:app:app-%d" % i, f],
                          capture_output=True, text=True).stdout.strip()
states = {i: hget(i, "state") for i in range(n)}
approved = [i for i in range(n) if states[i] == "approved"][:5]
with open(var + "/pdfs.ndjson", "w") as f:
    for i in approved:
        f.write(json.dumps({"type": "pdf", "payload": {
            "document": {"title": "Welcome pack", "subtitle": "Application app-%d" % i,
                         "paragraphs": ["Your application was approved. Below are the details we keep.",
                                        "Добро пожаловать! Καλώς ήρθατε!"],
                         "tables": [{"title": "Application", "rows": [["Applicant", str(7000000 + i)],
                                     ["Role", "moderator"], ["State", "approved"]]}],
                         "footer": {"text": "Sluice demo"}},
            "filename": "welcome-app-%d.pdf" % i,
            "deliver": {"discord": {"channel_id": hget(i, "channel"), "content": "Your welcome pack"}}}}) + "\n")
    rows = [["app-%d" % i, states[i]] for i in range(n)]
    f.write(json.dumps({"type": "pdf", "payload": {
        "document": {"title": "Applications", "subtitle": "%d applications" % n,
                     "paragraphs": ["Every application of this run and how it ended."],
                     "tables": [{"title": "Outcomes", "rows": rows}]},
        "filename": "summary.pdf", "deliver": {"file": {"name": "summary.pdf"}}}}) + "\n")
PY
t_dec=$(python3 -c 'import time;print(int(time.time()*1000))')
"$BIN/sluice-producer" enqueue --ndjson "$VAR/pdfs.ndjson" >/dev/null
npdf=$(wc -l <"$VAR/pdfs.ndjson")
for _ in $(seq 300); do
    [ "$(R HGET 'apps:{pdf}:stats' processed)" = "$npdf" ] && break
    sleep 0.1
done
t_pdf=$(python3 -c 'import time;print(int(time.time()*1000))')
echo "   $npdf PDFs rendered and delivered in $((t_pdf - t_dec)) ms from enqueue ($(R ZCARD 'apps:{pdf}:dead') dead); summary: var/demo-apps/reports/summary.pdf"

wait "$front_pid" || { echo "demo: the frontend failed:"; tail -5 "$VAR/frontend.log"; exit 1; }
echo "== summary"
python3 - "$VAR" "$N" "$port" "$U" "$iport" <<'PY'
import http.client, json, statistics, subprocess, sys, urllib.request
var, n, port, u, iport = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
fe = json.load(open(var + "/frontend.json"))
t0 = fe["t0_ms"]  # the frontend's first POST
def r(*a):
    return subprocess.run(["redis-cli", "-p", port, *a], capture_output=True, text=True).stdout.split("\n")[:-1]
log = [json.loads(l) for l in open(var + "/fake.jsonl")]
def routes(name, status=None):
    return [e for e in log if e["route"] == name and (status is None or e["status"] == status)]
creates, intros = routes("create_channel", 201), routes("create_message", 200)
listings = routes("list_channels")
states = {}
for i in range(n):
    s = r("HGET", "apps:{app}:app:app-%d" % i, "state")[0]
    states[s] = states.get(s, 0) + 1
# the interview stage: per application one create and one intro; one listing in all
intro_times = sorted(e["t_ms"] + e.get("latency_ms", 0) for e in intros)[:n]
end_open = intro_times[-1] if len(intro_times) >= n else None
reqs = len(creates) + len(listings) + n
floor = (reqs - 1) / 50.0 + 0.2 + 0.1  # the limit spaces them; the last answer takes its latency
took = (end_open - t0) / 1000.0 if end_open else float("nan")
# the intake: what the frontend's POSTs got
posts = [l.split() for l in open(var + "/posts.log")]
codes = {}
for p in posts:
    codes[p[1]] = codes.get(p[1], 0) + 1
ms = sorted(float(p[2]) for p in posts)
print(f"   intake: {len(posts)} POST /v1/jobs over 4 keep-alive connections (bearer token, Idempotency-Key each): "
      + ", ".join(f"{c} x {k}" for k, c in sorted(codes.items())) + f" in {fe['took_ms']:.0f} ms"
      + f" (per POST median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms)")
rs = fe["resent"]
print(f"     app-{rs['app']} re-sent with its Idempotency-Key: {rs['status']}, "
      + ("the same job id, no second interview" if rs["id"] == rs["first"] else f"a new id {rs['id']} (not the first {rs['first']})"))
print(f"   interview stage: {n} applications opened (channel + intro) in {took:.2f} s from the first POST")
print(f"     requests: {len(listings)} guild listing(s), {len(creates)} channel creates, {n} intros = {reqs}")
print(f"     floor set by the fake: {reqs} requests at 50/s + last latencies = {floor:.2f} s -> {took / floor:.2f}x the floor")
print(f"     the bot's author (README, What it is for): 280-420 s one at a time, 5-10 s with 50 threads and no limits")
st = json.load(urllib.request.urlopen(u + "/_fake/stats"))
rem = sum(int(r("HGET", "apps:{app}:app:app-%d" % i, "reminders_done")[0] or 0) for i in range(n))
imgs = sum(int(r("HGET", "apps:{app}:app:app-%d" % i, "image")[0] or 0) for i in range(n))
print(f"   follow-ups: {r('HGET', 'apps:{followup}:stats', 'processed')[0]} checks, {rem} reminders posted, {imgs} applicants seen posting an image")
print(f"   decisions: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
print(f"   fake: {st['requests_total']} requests, 429s {st['rate_limited']}, duplicates {st['duplicates']}, "
      f"max {st['max_global_per_second']} requests in one second (limit 50)")
# the frontend learns outcomes from the intake: one GET, and the ?wait it held
token = open(var + "/frontend.token").read().strip()
ids = [l.strip() for l in open(var + "/ids.txt")]
conn = http.client.HTTPConnection("127.0.0.1", iport, timeout=10)
conn.request("GET", "/v1/jobs/" + ids[0], headers={"Authorization": "Bearer " + token})
resp = conn.getresponse()
job = json.loads(resp.read())
res = job.get("result") or {}
same = res.get("channel_id") == r("HGET", "apps:{app}:app:app-0", "channel")[0]
print(f"   GET /v1/jobs/{ids[0]} (app-0): {resp.status}, state {job.get('state')}, "
      f"result {json.dumps(res)}" + (" = the app's channel" if same else " (not the app's channel!)"))
w = fe["wait"]
wj = w["job"]
after = w["answered"] * 1000 - wj["finished_ms"] if wj.get("finished_ms") else float("nan")
print(f"   GET /v1/jobs/{w['id']}?wait=30 (app-{w['app']}): held {w['answered'] - w['sent']:.2f} s, answered "
      f"{after:.0f} ms after the job finished: {w['status']}, state {wj.get('state')}, channel {(wj.get('result') or {}).get('channel_id')}")
PY
kill -TERM "$intake_pid"
irc=0
wait "$intake_pid" || irc=$?
echo "== intake stopped (SIGTERM, exit $irc); stopping workers, scheduler, fake and redis"
[ "$irc" = 0 ]
