#!/usr/bin/env python3
"""fcall.py — enqueue through the Redis Function library from one redis-py
client (tools/bench.sh, BENCH_ONLY="fcall"): N message-sized jobs, one
envelope per FCALL sluice_enqueue, PIPE calls per round trip, each batch's
replies awaited before the next is sent. Prints one JSON line: jobs/s, and
Redis CPU per job from INFO commandstats (the fcall row's usec_per_call, and
the whole server's used_cpu_sys + used_cpu_user over the run).

    python3 bench/fcall.py REDIS_PORT [JOBS] [PIPE]

Needs `sluice-ctl install` done on that Redis."""
import json
import sys
import time

import redis

port = int(sys.argv[1])
jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
pipe = int(sys.argv[3]) if len(sys.argv) > 3 else 100
r = redis.Redis(host="127.0.0.1", port=port)
key = "sluice:{fcallbench}"
body = json.dumps({"type": "message", "payload": {"platform": "discord",
                   "channel_id": "111222333444555666", "content": "hello from the bench"}})


def cpu():
    i = r.info("cpu")
    return i["used_cpu_sys"] + i["used_cpu_user"]


r.config_resetstat()
c0 = cpu()
t0 = time.perf_counter()
done = 0
while done < jobs:
    n = min(pipe, jobs - done)
    p = r.pipeline(transaction=False)
    for _ in range(n):
        p.execute_command("FCALL", "sluice_enqueue", 1, key, body)
    for rep in p.execute():
        if not isinstance(rep, bytes) or len(rep) != 26:
            sys.exit("fcall.py: unexpected reply %r" % (rep,))
    done += n
secs = time.perf_counter() - t0
c1 = cpu()
stat = r.info("commandstats").get("cmdstat_fcall", {})
stored = r.llen(key + ":ready:normal")
print(json.dumps({"test": "fcall_enqueue", "client": "redis-py %s" % redis.__version__,
                  "jobs": jobs, "pipeline": pipe, "stored": stored,
                  "jobs_per_s": round(jobs / secs), "redis_usec_per_call": stat.get("usec_per_call"),
                  "redis_cpu_us_per_job": round((c1 - c0) * 1e6 / jobs, 2)}))
sys.exit(0 if stored == jobs else 1)
