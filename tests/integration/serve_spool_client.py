"""serve_spool_client.py URL OUT SINGLES ARRAYS ARRAY_LEN THREADS FIRST_MARKER

POSTs SINGLES one-job bodies and ARRAYS bodies of ARRAY_LEN jobs (spread
among them) to URL/v1/jobs from THREADS keep-alive connections; every job
carries a unique payload marker m (from FIRST_MARKER). Writes one line per
job to OUT: "STATUS MARKER ID" (ID "-" when none), and one line per request
to OUT.progress as it goes, so the test can stop Redis in the middle of the
load. A connection error is status 0; a 202 without "spooled": true (or a
201 with it) is status 1."""
import http.client
import json
import sys
import threading

url, out = sys.argv[1:3]
singles, arrays, alen, nthreads, first = map(int, sys.argv[3:8])
host, port = url.split("//")[1].split(":")
bodies = []
m = first
step = (singles + arrays) // arrays if arrays else 0
for i in range(singles + arrays):
    n = alen if step and i % step == step - 1 and len(bodies) - singles < arrays else 1
    if n == 1 and i - sum(1 for b in bodies if len(b) > 1) >= singles:
        n = alen  # the singles are all out: the arrays left
    bodies.append(list(range(m, m + n)))
    m += n
lock = threading.Lock()
lines = []
progress = open(out + ".progress", "w", buffering=1)
nxt = [0]


def job(mk):
    return {"type": "noop", "queue": "q", "payload": {"m": mk}}


def worker():
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    while True:
        with lock:
            if nxt[0] >= len(bodies):
                return
            b = bodies[nxt[0]]
            nxt[0] += 1
        body = json.dumps(job(b[0]) if len(b) == 1 else {"jobs": [job(x) for x in b]})
        try:
            conn.request("POST", "/v1/jobs", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            st, data = r.status, r.read()
            ans = json.loads(data)
            ids = [ans.get("id")] if len(b) == 1 else ans.get("ids") or [None] * len(b)
            if st in (201, 202) and (st == 202) != bool(ans.get("spooled")):
                st = 1
        except Exception:
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            st, ids = 0, [None] * len(b)
        with lock:
            for mk, i in zip(b, ids):
                lines.append("%d %d %s" % (st, mk, i or "-"))
            progress.write("%d\n" % st)


ts = [threading.Thread(target=worker) for _ in range(nthreads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
