#!/usr/bin/env python3
"""func_same.py — one source of truth (t_func_same): sends every line of an
NDJSON input through FCALL sluice_enqueue, one call per line, and compares
with what sluice-producer did with the same input (its stdout and stderr,
under another prefix): the same lines are refused, and each stored job's
envelope is byte for byte the same but for "id" (when the producer made
it) and "created_ms".

    python3 func_same.py INPUT CLI_STDOUT CLI_STDERR REDIS_PORT CLI_PREFIX FUNC_PREFIX

Two known differences are counted, not failed: a job type that schemas/
does not describe is refused by the function (the worker has no handler
for it) and taken by the CLI; a payload its type's schema refuses is
refused by the CLI and taken by the function (the worker checks it and
sends the job to dead with the reason). Prints "FAIL ..." lines (at most 20) and a
summary; exits 1 when anything failed.
"""
import json
import re
import sys

import redis

inp, cli_out, cli_err, port, pcli, pfun = sys.argv[1:7]
r = redis.Redis(host="127.0.0.1", port=int(port))
fails = []

# the lines as the CLI reads them: split at \n, trailing \r and spaces
# dropped, empty lines skipped (but counted)
lines = []
with open(inp, "rb") as f:
    for n, raw in enumerate(f.read().split(b"\n"), 1):
        raw = raw.rstrip(b"\r ")
        if raw:
            lines.append((n, raw))
if lines and lines[-1][1] == b"" :
    lines.pop()

refused_cli = {}  # line -> the CLI's reason
with open(cli_err, encoding="utf-8", errors="replace") as f:
    for l in f:
        m = re.match(r"line (\d+): (.*)", l)
        if m:
            refused_cli[int(m.group(1))] = m.group(2)


def payload_schema(why):
    """A refusal by the payload's schema (not by the JSON, the envelope or a
    size): the function leaves that check to the worker."""
    return why.startswith("payload") and "(at byte" not in why and "bytes" not in why
ids_cli = open(cli_out).read().split()


def queue_of(raw):
    """The key's queue for a line: its queue, else its type, else corpus."""
    try:
        d = json.loads(raw)
    except Exception:
        return "corpus"
    if isinstance(d, dict):
        for k in ("queue", "type"):
            v = d.get(k)
            if isinstance(v, str) and re.fullmatch(r"[a-z][a-z0-9_-]{0,63}", v):
                return v
    return "corpus"


p = r.pipeline(transaction=False)
for n, raw in lines:
    p.execute_command("FCALL", "sluice_enqueue", 1, "%s:{%s}" % (pfun, queue_of(raw)), raw)
replies = p.execute(raise_on_error=False)

unknown_type = stored = refused = schema = 0
k = 0  # next CLI id
for (n, raw), rep in zip(lines, replies):
    cli_ok = n not in refused_cli
    fun_ok = not isinstance(rep, Exception)
    if not cli_ok:
        if fun_ok and payload_schema(refused_cli[n]):
            schema += 1
        elif fun_ok:
            fails.append("line %d: refused by the CLI (%s), stored by FCALL as %s"
                         % (n, refused_cli[n], rep))
        else:
            refused += 1
        continue
    cid = ids_cli[k] if k < len(ids_cli) else None
    k += 1
    if not fun_ok:
        if "unknown job type" in str(rep):
            unknown_type += 1
            continue
        fails.append("line %d: stored by the CLI (%s), refused by FCALL: %s" % (n, cid, rep))
        continue
    fid = rep.decode()
    q = queue_of(raw)
    a = r.get("%s:{%s}:job:%s" % (pcli, q, cid))
    b = r.get("%s:{%s}:job:%s" % (pfun, q, fid))
    if a is None or b is None:
        fails.append("line %d: job body missing (cli %s: %s, fcall %s: %s)" % (n, cid, a is not None, fid, b is not None))
        continue

    def norm(body, jid):
        body = body.replace(b'{"id":"%s"' % jid.encode(), b'{"id":"ID"', 1)
        return re.sub(rb',"created_ms":\d+,', b',"created_ms":0,', body, count=1)

    if norm(a, cid) != norm(b, fid):
        fails.append("line %d: envelopes differ:\n  cli:   %r\n  fcall: %r" % (n, a[:300], b[:300]))
    stored += 1
if k != len(ids_cli):
    fails.append("the CLI printed %d ids, %d lines were stored" % (len(ids_cli), k))

for f in fails[:20]:
    print("FAIL " + f)
print("compared: %d lines, %d stored the same, %d refused by both, %d of an unknown type "
      "(CLI stores, FCALL refuses), %d refused by a payload schema (CLI; the worker checks "
      "FCALL's), %d differences" % (len(lines), stored, refused, unknown_type, schema, len(fails)))
sys.exit(1 if fails else 0)
