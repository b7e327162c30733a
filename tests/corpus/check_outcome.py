#!/usr/bin/env python3
"""check_outcome.py — checks what sluice-producer did with an NDJSON input
(t_producer_strict): every line is either refused on stderr as
"line N: FIELD: reason", or stored, its id printed in input order, with
exactly the values written. Never a silent drop, never a changed value.

    python3 check_outcome.py INPUT STDOUT STDERR REDIS_PORT PREFIX

Prints one "FAIL ..." line per problem (at most 20), then a summary line
"checked: N lines, A stored, R refused"; exits 1 when anything failed.
"""
import json
import re
import socket
import sys

DEFAULTS = {"priority": "normal", "max_attempts": 8, "timeout_ms": 30000, "delay_ms": 0,
            "run_at_ms": 0}

fails = []


def fail(msg):
    fails.append(msg)


class Dup(Exception):
    pass


def pairs(items):
    d = {}
    for k, v in items:
        if k in d:
            raise Dup(k)
        d[k] = v
    return d


def bad_constant(name):
    raise ValueError(name)


def check_strings(v):
    """No NUL and no lone surrogate anywhere (Python's json accepts both)."""
    if isinstance(v, str):
        if "\x00" in v:
            raise ValueError("NUL")
        v.encode("utf-8")  # raises on a lone surrogate
    elif isinstance(v, list):
        for x in v:
            check_strings(x)
    elif isinstance(v, dict):
        for k, x in v.items():
            check_strings(k)
            check_strings(x)


def strict_load(raw):
    """The line as a strict RFC 8259 reader sees it, or an exception."""
    text = raw.decode("utf-8")  # strict: invalid UTF-8 raises
    v = json.loads(text, object_pairs_hook=pairs, parse_constant=bad_constant)
    check_strings(v)
    return v


def same(a, b):
    """Equal JSON values: numbers by value (1 == 1.0), booleans apart from numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def redis_get_many(port, keys):
    s = socket.create_connection(("127.0.0.1", port))
    out = b"".join(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k) for k in keys)
    s.sendall(out)
    f = s.makefile("rb")
    vals = []
    for _ in keys:
        head = f.readline()
        if head.startswith(b"$-1"):
            vals.append(None)
        elif head.startswith(b"$"):
            n = int(head[1:])
            vals.append(f.read(n + 2)[:-2])
        else:
            raise RuntimeError("redis: %r" % head)
    s.close()
    return vals


def main():
    inp, outp, errp, port, prefix = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    raw_lines = open(inp, "rb").read().split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    ids = [x for x in open(outp, "rb").read().decode().split("\n") if x]
    refused = {}
    for ln in open(errp, "rb").read().decode("utf-8", "replace").split("\n"):
        if not ln:
            continue
        m = re.match(r"^line (\d+): (\S.*?): (.+)$", ln)
        if not m:
            fail("stderr line not in the form 'line N: FIELD: reason': %r" % ln[:200])
            continue
        n = int(m.group(1))
        if n in refused:
            fail("line %d reported twice" % n)
        refused[n] = (m.group(2), m.group(3))
    accepted = []  # (line number, raw)
    for i, raw in enumerate(raw_lines, 1):
        line = raw.rstrip(b"\r ")
        if not line:
            if i in refused:
                fail("line %d: blank, yet reported" % i)
            continue
        if i in refused:
            continue
        accepted.append((i, line))
    for n in refused:
        if n > len(raw_lines):
            fail("line %d reported, the input has %d lines" % (n, len(raw_lines)))
    if len(ids) != len(accepted):
        fail("%d ids printed for %d lines not refused: a line was dropped silently, or "
             "an id printed twice" % (len(ids), len(accepted)))
    keys, docs = [], []
    for (n, line), jid in zip(accepted, ids):
        try:
            doc = strict_load(line)
        except Exception as e:  # noqa: BLE001 - any reason is a failure here
            fail("line %d accepted, but it is not strict JSON (%s: %s): %r" %
                 (n, type(e).__name__, e, line[:160]))
            doc = None
        docs.append((n, jid, doc))
        q = doc.get("queue", doc.get("type")) if isinstance(doc, dict) else "corpus"
        keys.append(("%s:{%s}:job:%s" % (prefix, q, jid)).encode())
    bodies = redis_get_many(port, keys) if keys else []
    first_of = {}
    for (n, jid, doc), body in zip(docs, bodies):
        if doc is None:
            continue
        if body is None:
            fail("line %d: id %s printed, no job stored" % (n, jid))
            continue
        try:
            stored = strict_load(body)
        except Exception as e:  # noqa: BLE001
            fail("line %d: the stored job is not strict JSON (%s): %r" % (n, e, body[:160]))
            continue
        if jid in first_of:  # an idempotency key seen before returns the first job
            m, mdoc = first_of[jid]
            if doc.get("idempotency_key") is None or doc.get("idempotency_key") != mdoc.get("idempotency_key"):
                fail("line %d got the id of line %d without sharing its idempotency key" % (n, m))
            continue
        first_of[jid] = (n, doc)
        want = dict(doc)
        want.setdefault("queue", doc["type"])
        for k, v in DEFAULTS.items():
            want.setdefault(k, v)
        for k, v in want.items():
            got = stored.get(k, DEFAULTS.get(k))
            if not same(v, got):
                fail("line %d: %s written %s, stored %s" %
                     (n, k, json.dumps(v)[:120], json.dumps(got)[:120]))
    print("checked: %d lines, %d stored (%d distinct jobs), %d refused" %
          (len(raw_lines), len(accepted), len(first_of), len(refused)))
    for msg in fails[:20]:
        print("FAIL " + msg)
    if len(fails) > 20:
        print("FAIL ... %d more" % (len(fails) - 20))
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
