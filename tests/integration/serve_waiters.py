"""serve_waiters.py PORT TOKEN QUEUE IDS_FILE WAIT_S READY_FILE OUT_FILE

Opens one connection per id (raw sockets, asyncio), sends
GET /v1/jobs/ID?queue=QUEUE&wait=WAIT_S on each, touches READY_FILE once
every request is sent, then reads every answer and writes to OUT_FILE one
line per request: "STATUS STATE". Used by t_serve_wait for thousands of
waiting requests at once."""
import asyncio
import json
import sys

port, token, queue, ids_file, wait_s, ready_file, out_file = sys.argv[1:8]
ids = [line.strip() for line in open(ids_file) if line.strip()]


async def one(i, sent):
    reader, writer = await asyncio.open_connection("127.0.0.1", int(port))
    writer.write(
        (
            f"GET /v1/jobs/{ids[i]}?queue={queue}&wait={wait_s} HTTP/1.1\r\n"
            f"Host: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    sent.append(i)
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b" ")[1].decode() if head else "none"
    try:
        state = json.loads(body).get("state", "-")
    except ValueError:
        state = "unparsable"
    return f"{status} {state}"


async def main():
    sent = []
    tasks = []
    for i in range(len(ids)):
        tasks.append(asyncio.ensure_future(one(i, sent)))
        if i % 200 == 199:
            await asyncio.sleep(0)
    while len(sent) < len(ids):
        await asyncio.sleep(0.05)
    open(ready_file, "w").close()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    with open(out_file, "w") as f:
        for r in results:
            f.write((r if isinstance(r, str) else f"error {type(r).__name__}") + "\n")


asyncio.run(main())
