# Enqueue a Sluice job from Python with redis-py (Debian: python3-redis),
# then follow it until it ends. Run `sluice-ctl install` once beforehand.
import json
import os
import time

import redis

r = redis.Redis.from_url(os.environ.get("SLUICE_REDIS_URL", "redis://127.0.0.1:6379/0"))
prefix = os.environ.get("SLUICE_PREFIX", "sluice")
key = f"{prefix}:{{message}}"  # the queue, in braces: sluice:{message}

job = {
    "type": "message",
    "priority": "high",
    "idempotency_key": "welcome-4242",  # the same key again: the same job
    "payload": {"platform": "discord", "channel_id": "4242", "content": "Welcome aboard!"},
}
try:
    job_id = r.fcall("sluice_enqueue", 1, key, json.dumps(job)).decode()
except redis.ResponseError as e:  # "sluice: payload: expected object, got string"
    raise SystemExit(f"refused: {e}")
print("enqueued", job_id)

# ready, delayed, active, done, dead or cancelled; and the stored envelope
# (attempts, last_error, and the handler's result once it has one)
for _ in range(400):
    state, envelope = r.fcall_ro("sluice_job", 1, key, job_id)
    if state in (b"done", b"dead", b"cancelled"):
        break
    time.sleep(0.05)
doc = json.loads(envelope)
print("state", state.decode(), "attempts", doc.get("attempts", 0), "result", doc.get("result"))
