# Enqueue a Sluice job from Python over HTTP (the intake, sluice-producer
# serve), standard library only, then wait for it to end.
import json
import os
import urllib.error
import urllib.request

base = os.environ.get("SLUICE_INTAKE_URL", "http://127.0.0.1:8787")
token = os.environ["SLUICE_INTAKE_TOKEN"]  # from sluice-producer token new


def call(method, path, body=None, headers=None):
    req = urllib.request.Request(base + path, method=method, data=body, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=70) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as e:  # 4xx/5xx: {"error": {"field", "message"}}
        return e.code, json.load(e)


job = {"type": "message", "queue": "message", "priority": "high",
       "payload": {"platform": "discord", "channel_id": "4545", "content": "Welcome aboard!"}}
# the same Idempotency-Key again: the same job, sent once
status, doc = call("POST", "/v1/jobs", json.dumps(job).encode(), {"Idempotency-Key": "welcome-4545"})
if status not in (201, 202):  # 202: spooled, Redis was out of reach
    raise SystemExit(f"refused ({status}): {doc['error']}")
print("enqueued", doc["id"])

# held until the job is done, dead or cancelled (or 30 s pass)
status, doc = call("GET", f"/v1/jobs/{doc['id']}?queue=message&wait=30")
print("state", doc["state"], "attempts", doc["attempts"], "result", json.dumps(doc.get("result")))
