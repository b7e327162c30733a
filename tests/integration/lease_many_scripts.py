"""lease_many_scripts.py PORT SCRIPTS_DIR N: renew.lua, ack.lua and fail.lua
each called once with N jobs (more than Lua's unpack takes at once), on
jobs made active by hand as claim.lua leaves them (job key, active score,
lease token). Each call must take every job: prints one line per script,
"SCRIPT REPLY", and exits 1 on the first that does not. The scripts'
text is composed as scripts.c does: each "-- include: NAME.lua" file in
front, in the order named."""
import os
import re
import sys

import redis

port, scripts, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)


def text(name):
    own = open(os.path.join(scripts, name)).read()
    libs = re.findall(r"\n-- include: (\S+)", own)
    return "".join(open(os.path.join(scripts, lib)).read() for lib in libs) + own


base = "sluice:{big}:"
keys = {k: base + k for k in ("active", "done", "dead", "delayed", "stats", "lease")}
ready = [base + "ready:" + p for p in ("critical", "high", "normal", "low")]


def make_active(tag):
    ids = ["%s%05d" % (tag, i) for i in range(n)]
    p = r.pipeline(transaction=False)
    for i in ids:
        p.set(base + "job:" + i, '{"id":"%s","type":"noop","queue":"big","payload":{}}' % i)
        p.zadd(keys["active"], {i: 9999999999999})
        p.hset(keys["lease"], i, "tok-" + i)
    p.execute()
    return ids


def check(name, reply, want):
    print(name, reply[:3] if isinstance(reply, list) else reply)
    if reply[0] != want:
        sys.exit("%s took %r of %d jobs" % (name, reply[0], n))


# renew: every lease renewed, none lost
ids = make_active("r")
argv = ["30000"]
for i in ids:
    argv += [i, "tok-" + i]
lost = r.eval(text("renew.lua"), 3, keys["active"], keys["stats"], keys["lease"], *argv)
print("renew.lua lost", len(lost))
if lost:
    sys.exit("renew.lua: %d of %d leases lost" % (len(lost), n))

# ack: one run of N jobs sharing a token is how a claim's jobs travel; here
# each job has its own token, so N runs of one
argv = [base, "3600000", str(3 * n), "0", "", "", "0"]
for i in ids:
    argv += ["tok-" + i, "1", i]
check("ack.lua", r.eval(text("ack.lua"), 5, keys["active"], keys["done"], keys["stats"],
                        keys["lease"], "sluice:events", *argv), n)

# fail: N jobs to dead
ids = make_active("f")
argv = [base, "sluice:scheduler:notify", "0"]
for i in ids:
    argv += [i, "tok-" + i, "dead", "0", "2", "", "", ""]
check("fail.lua", r.eval(text("fail.lua"), 10, keys["active"], keys["delayed"], keys["dead"],
                         keys["stats"], *ready, keys["lease"], "sluice:events", *argv), n)
if r.zcard(keys["active"]) != 0 or r.hlen(keys["lease"]) != 0:
    sys.exit("jobs left active: %d, leases left: %d" % (r.zcard(keys["active"]), r.hlen(keys["lease"])))
