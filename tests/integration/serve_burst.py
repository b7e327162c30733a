"""serve_burst.py PORT TOKEN QUEUE N DIR — opens N connections and touches
DIR/connected; once DIR/go exists, sends one single-job POST /v1/jobs on
each, touches DIR/sent, reads every answer and prints how many were 201.
t_serve stops the intake (SIGSTOP) between connected and sent, so every
request is waiting in its socket when it goes on: they arrive together,
whatever the machine's load, and must share script calls."""
import asyncio
import os
import sys

port, token, queue, n, d = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
body = ('{"type":"noop","queue":"%s","payload":{}}' % queue).encode()
req = (
    f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    "Connection: close\r\n\r\n"
).encode() + body


async def main():
    conns = [await asyncio.open_connection("127.0.0.1", int(port)) for _ in range(n)]
    open(os.path.join(d, "connected"), "w").close()
    while not os.path.exists(os.path.join(d, "go")):
        await asyncio.sleep(0.02)
    for _, w in conns:
        w.write(req)
    await asyncio.gather(*(w.drain() for _, w in conns))
    open(os.path.join(d, "sent"), "w").close()
    answers = await asyncio.gather(*(r.read() for r, _ in conns))
    print(sum(1 for a in answers if a.startswith(b"HTTP/1.1 201")))


asyncio.run(main())
