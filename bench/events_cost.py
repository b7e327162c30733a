#!/usr/bin/env python3
"""events_cost.py — Redis CPU of ack.lua per job with and without the
events stream (docs/bench.md, "Redis CPU per job"). ROUNDS calls of
ack.lua, each acknowledging JOBS active jobs of one claim (one token, as a
worker's batch travels), retention 0; once with CAP 0 (no events: the
code before the stream, same arguments) and once with the worker's
events.h lines and CAP 10000. The figure is Redis's own: INFO
commandstats' usec for EVALSHA, which the set-up commands do not use.

    /usr/bin/python3 bench/events_cost.py REDIS_PORT SCRIPTS_DIR [JOBS] [ROUNDS]

With EVENTS_MODE=off or on, one run of that kind only: run it against a
redis-server under `valgrind --tool=callgrind` for instructions per job
that a busy machine does not blur (docs/bench.md)."""
import json
import os
import sys

import redis

port, sdir = int(sys.argv[1]), sys.argv[2]
jobs = int(sys.argv[3]) if len(sys.argv) > 3 else 100
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
r = redis.Redis(host="127.0.0.1", port=port)
text = "".join(open(os.path.join(sdir, f)).read() for f in ("lib_batch.lua", "lib_many.lua", "ack.lua"))
sha = r.script_load(text)
base = "evbench:{q}:"
keys = [base + "active", base + "done", base + "stats", base + "lease", "evbench:events"]
ids = ["01M96A3CA784PDEX6V%08d" % i for i in range(jobs)]
lines = "".join("done\t%s\tnoop\t0\t1765000000000\t1765000000123\t\t\n" % i for i in ids)


def run(cap, events):
    r.config_resetstat()
    total = 0
    for _ in range(rounds):
        p = r.pipeline(transaction=False)
        p.zadd(keys[0], {i: 9999999999999 for i in ids})
        p.hset(keys[3], mapping={i: "w/1" for i in ids})
        p.execute()
        argv = [base, "0", str(2 + jobs), "0", "", events, str(cap), "w/1", "%06d" % jobs] + ids
        assert r.evalsha(sha, 5, *keys, *argv)[0] == jobs
    s = r.info("commandstats")["cmdstat_evalsha"]
    r.delete(*keys)
    return s["usec"] / (rounds * jobs)


mode = os.environ.get("EVENTS_MODE", "both")  # "off" or "on": one run (under callgrind)
if mode != "both":
    run(0, "") if mode == "off" else run(10000, lines)
    print(json.dumps({"mode": mode, "jobs_per_ack": jobs, "rounds": rounds}))
    sys.exit(0)
off = [run(0, "") for _ in range(3)]
on = [run(10000, lines) for _ in range(3)]
print(json.dumps({"jobs_per_ack": jobs, "rounds": rounds,
                  "ack_usec_per_job_no_events": round(sorted(off)[1], 3),
                  "ack_usec_per_job_events": round(sorted(on)[1], 3),
                  "events_usec_per_job": round(sorted(on)[1] - sorted(off)[1], 3)}))
