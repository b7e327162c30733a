"""subscribe.py PORT CHANNEL OUT READY — a pub/sub subscriber for the
integration tests, speaking RESP over a plain socket (no client library):
subscribes to CHANNEL on 127.0.0.1:PORT, touches READY once Redis has
confirmed, then appends each message to OUT as one JSON line
{"n": message number, "data": the message's text} until SIGTERM."""
import json
import signal
import socket
import sys

port, channel, out_path, ready_path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
ch = channel.encode()
s.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(ch), ch))


def read():
    line = f.readline()
    if not line:
        sys.exit(0)
    kind, rest = line[:1], line[1:-2]
    if kind == b"*":
        return [read() for _ in range(int(rest))]
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b":":
        return int(rest)
    if kind == b"-":
        raise SystemExit("redis error: " + rest.decode())
    return rest


out = open(out_path, "a")
n = 0
while True:
    msg = read()
    if msg[0] == b"subscribe":
        open(ready_path, "w").close()
    elif msg[0] == b"message":
        n += 1
        out.write(json.dumps({"n": n, "data": msg[2].decode()}) + "\n")
        out.flush()
