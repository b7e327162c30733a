"""serve_burst.py PORT TOKEN QUEUE N — opens N connections, then sends one
single-job POST /v1/jobs on each at once, and prints how many were
answered 201. Used by t_serve to show concurrent POSTs share script calls."""
import asyncio
import sys

port, token, queue, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
body = ('{"type":"noop","queue":"%s","payload":{}}' % queue).encode()
req = (
    f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    "Connection: close\r\n\r\n"
).encode() + body


async def main():
    conns = [await asyncio.open_connection("127.0.0.1", int(port)) for _ in range(n)]
    for _, w in conns:
        w.write(req)  # buffered: all go out in this turn of our loop
    await asyncio.gather(*(w.drain() for _, w in conns))
    answers = await asyncio.gather(*(r.read() for r, _ in conns))
    print(sum(1 for a in answers if a.startswith(b"HTTP/1.1 201")))


asyncio.run(main())
