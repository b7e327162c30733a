#!/usr/bin/env python3
"""notify_listen.py SOCKET OUT: plays systemd's side of sd_notify for
t_sd_notify. Binds a Unix datagram socket at SOCKET (what NOTIFY_SOCKET
names) and appends each datagram to OUT as one line per assignment,
"MS KEY=VALUE" (MS: wall-clock milliseconds when it arrived), flushed at
once so the test can poll the file. Runs until killed."""
import os
import socket
import sys
import time

path, out = sys.argv[1], sys.argv[2]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(out, "a", buffering=1) as f:
    print(f"{int(time.time() * 1000)} LISTENING=1", file=f)
    while True:
        data = s.recv(65536)
        ms = int(time.time() * 1000)
        for line in data.decode("utf-8", "replace").split("\n"):
            if line:
                print(f"{ms} {line}", file=f)
