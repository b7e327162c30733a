#!/usr/bin/env python3
"""wait.py — how soon a held GET /v1/jobs/ID?wait=S answers after its job
ends (tools/bench_intake.sh). N sleep jobs of MS milliseconds are POSTed
at RATE per second; each POST's 201 is followed at once by a ?wait GET on a
connection of its own, held while a sluice-worker sleeps the job. Beside
them one Redis connection subscribes to PREFIX:{QUEUE}:finished, the
channel whose line ends the wait: the delay measured for a job is from that
line reaching this process to the GET's answer reaching it, both on this
process's clock. Prints one JSON line with the percentiles, and how many
answers said "done" (every one must).

    python3 bench/wait.py INTAKE_PORT TOKEN REDIS_PORT QUEUE N RATE MS"""
import asyncio
import json
import sys
import time

iport, token, rport, queue = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
n, rate, sleep_ms = int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
channel = "sluice:{%s}:finished" % queue
published = {}  # id -> when its finished line arrived
answered = {}   # id -> (when the ?wait answer arrived, state)


async def http(reader, writer, head, body=b""):
    writer.write(head + body)
    await writer.drain()
    status_line = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode().partition(":")
        if k.lower() == "content-length":
            length = int(v)
    data = await reader.readexactly(length)
    return int(status_line.split()[1]), json.loads(data)


async def subscriber(ready):
    reader, writer = await asyncio.open_connection("127.0.0.1", rport)
    writer.write(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(channel), channel.encode()))
    await writer.drain()
    ready.set()
    while True:
        # every push is an array of 3: kind, channel, message (bulk strings)
        head = await reader.readline()
        if not head:
            return
        parts = []
        for _ in range(int(head[1:])):
            line = await reader.readline()
            if line[:1] == b":":
                parts.append(line[1:].strip())
                continue
            size = int(line[1:])
            parts.append((await reader.readexactly(size + 2))[:-2])
        if parts[0] != b"message":
            continue
        now = time.perf_counter()
        for line in parts[2].split(b"\n"):
            if line:
                published.setdefault(json.loads(line)["id"], now)


async def one(post_reader, post_writer, lock, i):
    body = json.dumps({"type": "sleep", "queue": queue, "payload": {"ms": sleep_ms}}).encode()
    async with lock:
        status, doc = await http(post_reader, post_writer, (
            "POST /v1/jobs HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (token, len(body))).encode(),
            body)
    if status != 201:
        raise SystemExit("wait.py: POST answered %d: %s" % (status, doc))
    jid = doc["id"]
    reader, writer = await asyncio.open_connection("127.0.0.1", iport)
    status, doc = await http(reader, writer, (
        "GET /v1/jobs/%s?queue=%s&wait=30 HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer %s\r\n"
        "Connection: close\r\n\r\n" % (jid, queue, token)).encode())
    answered[jid] = (time.perf_counter(), doc.get("state"))
    writer.close()


async def main():
    ready = asyncio.Event()
    sub = asyncio.ensure_future(subscriber(ready))
    await ready.wait()
    conns = []
    for _ in range(8):
        r, w = await asyncio.open_connection("127.0.0.1", iport)
        conns.append((r, w, asyncio.Lock()))
    tasks = []
    t0 = time.perf_counter()
    for i in range(n):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        r, w, lock = conns[i % len(conns)]
        tasks.append(asyncio.ensure_future(one(r, w, lock, i)))
    await asyncio.gather(*tasks)
    await asyncio.sleep(0.2)  # the last finished lines
    sub.cancel()
    delays = sorted((answered[j][0] - published[j]) * 1000 for j in answered if j in published)
    done = sum(1 for j in answered if answered[j][1] == "done")

    def pct(p):
        return round(delays[min(len(delays) - 1, int(p * len(delays)))], 3) if delays else None

    print(json.dumps({"test": "intake-wait", "jobs": n, "rate": rate, "sleep_ms": sleep_ms,
                      "answered": len(answered), "answered_done": done, "measured": len(delays),
                      "after_finish_p50_ms": pct(0.5), "after_finish_p99_ms": pct(0.99),
                      "after_finish_max_ms": round(delays[-1], 3) if delays else None}))
    return 0 if done == n else 1


sys.exit(asyncio.get_event_loop().run_until_complete(main()))
