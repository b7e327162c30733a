#!/usr/bin/env python3
"""archive.py — how fast the leading scheduler archives job ends
(docs/bench.md, "Archive throughput"). Fills PREFIX:events on the Redis at
REDIS_PORT with ENDS job ends, PER_ENTRY to an entry (as a worker's ack
call carries the ends of its batch: events.h's lines), then starts
SCHEDULER with --archive ARCHIVE (a new file) --history HISTORY and times
it from the moment it leads until the consumer group "archive" has read
and acknowledged every entry. Prints one JSON line: ends/s, the
scheduler's CPU per end, Redis CPU per end, and the archive's size.

    /usr/bin/python3 bench/archive.py REDIS_PORT SCHEDULER ARCHIVE ENDS PER_ENTRY HISTORY [BATCH]"""
import json
import os
import subprocess
import sys
import time

import redis

port, sched, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ends, per, history = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
batch = sys.argv[7] if len(sys.argv) > 7 else "2000"
prefix = "archbench%d" % os.getpid()
key = prefix + ":events"
r = redis.Redis(host="127.0.0.1", port=port)

now = int(time.time() * 1000)
entries = 0
p = r.pipeline(transaction=False)
for first in range(0, ends, per):
    lines = []
    for i in range(first, min(first + per, ends)):
        # one in 20 a failure, as a mixed load has them
        if i % 20 == 0:
            lines.append("retried\tJ%08d\tmessage\t1\t%d\t%d\t\tHTTP 503 from discord\n" % (i, now - 40, now - 9))
        else:
            lines.append("done\tJ%08d\tnoop\t0\t%d\t%d\t\t\n" % (i, now - 30 - i % 17, now - 3 - i % 5))
    p.execute_command("XADD", key, "*", "q", "bench", "e", "".join(lines))
    entries += 1
    if entries % 500 == 0:
        p.execute()
p.execute()

for f in (path, path + "-wal", path + "-shm"):
    if os.path.exists(f):
        os.remove(f)


def cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def redis_cpu():
    info = r.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


env = dict(os.environ, SLUICE_REDIS_URL="redis://127.0.0.1:%d/0" % port, SLUICE_PREFIX=prefix)
proc = subprocess.Popen([sched, "--archive", path, "--history", history, "--archive-batch", batch,
                         "--events-cap", str(entries + 1000), "--lock-ttl-ms", "3000",
                         "--log-level", "warn"], env=env)
try:
    while True:  # leading once the group exists
        try:
            r.xinfo_groups(key)
            if any(g["name"] == b"archive" for g in r.xinfo_groups(key)):
                break
        except redis.ResponseError:
            pass
        time.sleep(0.005)
    t0, c0, rc0 = time.time(), cpu(proc.pid), redis_cpu()
    while True:
        g = [g for g in r.xinfo_groups(key) if g["name"] == b"archive"][0]
        if g["lag"] == 0 and g["pending"] == 0:
            break
        time.sleep(0.01)
    t1, c1, rc1 = time.time(), cpu(proc.pid), redis_cpu()
finally:
    proc.terminate()
    proc.wait()
    r.delete(key)
size = sum(os.path.getsize(f) for f in (path, path + "-wal") if os.path.exists(f))
print(json.dumps({"ends": ends, "per_entry": per, "entries": entries, "history": history,
                  "batch": int(batch), "seconds": round(t1 - t0, 3),
                  "ends_per_s": round(ends / (t1 - t0)),
                  "scheduler_cpu_us_per_end": round((c1 - c0) * 1e6 / ends, 2),
                  "redis_cpu_us_per_end": round((rc1 - rc0) * 1e6 / ends, 3),
                  "archive_bytes": size}))
