#!/usr/bin/env python3
"""A loopback HTTP/1.1 server for tests/unit/test_http.c.

Prints "listening PORT" on stdout once it accepts connections, then serves
until killed. Keep-alive on; one thread per connection.

Routes (by the last path segment: /anything/echo is /echo):
  /echo               method, path, headers, body and client port back as JSON
  /slow?ms=N          answers after N ms
  /big?bytes=N        N bytes of body; &chunked=1 sends no Content-Length
  /status?code=N      that status, with Retry-After (&retry_after=S) and
                      X-RateLimit-Limit/-Remaining/-Reset headers
  /reset              closes the socket without answering (RST: SO_LINGER 0);
                      &mode=close closes it cleanly instead
  /partial            promises 100 bytes, sends 10, closes
  /multipart          parses multipart/form-data: parts' names, filenames,
                      content types and sizes as JSON
  /limited?key=K      counts the requests of K; with &retry_after=S (seconds,
                      fractions allowed) the first is answered a Discord 429
                      (&scope=global: a global one) and so is any that comes
                      before those S have passed ("early"); the others get
                      200 {"requests": N, "early": E} (test_call.c)
"""
import argparse
import math
import threading
import email.parser
import email.policy
import json
import socket
import struct
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


# /limited's state per key: requests, early ones, and the monotonic time
# before which a request is early
LIMITED = {}
LIMITED_LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    # Headers and body go out in two writes; with Nagle on, the second waits
    # for the client's delayed ACK (40 ms a response).
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # quiet
        pass

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def reply(self, code, body, ctype="application/json", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(self, code, obj, headers=()):
        self.reply(code, json.dumps(obj).encode(), headers=headers)

    def route(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        # Routes match the last path segment, so "/bot<token>/slow" is /slow:
        # the tests put a fake token in the path to check it never leaks.
        path = "/" + url.path.rsplit("/", 1)[-1]
        if path == "/echo":
            body = self.read_body()
            self.reply_json(200, {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("latin-1"),
                "body_len": len(body),
                "client_port": self.client_address[1],
            })
        elif path == "/slow":
            self.read_body()
            time.sleep(int(q.get("ms", "1000")) / 1000.0)
            self.reply_json(200, {"slept_ms": int(q.get("ms", "1000"))})
        elif path == "/big":
            self.read_body()
            n = int(q.get("bytes", "0"))
            chunk = b"x" * 65536
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if q.get("chunked") == "1":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                left = n
                while left:
                    part = chunk[:min(left, len(chunk))]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    left -= len(part)
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(n))
                self.end_headers()
                left = n
                while left:
                    part = chunk[:min(left, len(chunk))]
                    self.wfile.write(part)
                    left -= len(part)
        elif path == "/status":
            self.read_body()
            code = int(q.get("code", "200"))
            headers = [("X-RateLimit-Limit", "30"), ("X-RateLimit-Remaining", "0"),
                       ("X-RateLimit-Reset", "1.5")]
            if "retry_after" in q:
                headers.append(("Retry-After", q["retry_after"]))
            self.reply_json(code, {"code": code}, headers=headers)
        elif path == "/reset":
            self.read_body()
            if q.get("mode") != "close":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
        elif path == "/partial":
            self.read_body()
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
        elif path == "/limited":
            self.read_body()
            retry_after = float(q.get("retry_after", "0"))
            scope = q.get("scope", "user")
            now = time.monotonic()
            with LIMITED_LOCK:
                st = LIMITED.setdefault(q.get("key", ""), {"n": 0, "early": 0, "until": None})
                st["n"] += 1
                if retry_after > 0 and st["until"] is None:
                    st["until"] = now + retry_after
                    limited = True
                elif st["until"] is not None and now < st["until"]:
                    st["early"] += 1
                    limited = True
                else:
                    limited = False
                counts = {"requests": st["n"], "early": st["early"]}
            if limited:
                headers = [("Retry-After", str(math.ceil(retry_after))),
                           ("X-RateLimit-Scope", scope)]
                if scope == "global":
                    headers.append(("X-RateLimit-Global", "true"))
                self.reply_json(429, {"message": "You are being rate limited.",
                                      "retry_after": retry_after,
                                      "global": scope == "global"}, headers=headers)
            else:
                self.reply_json(200, counts)
        elif path == "/multipart":
            body = self.read_body()
            ctype = self.headers.get("Content-Type", "")
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            parts = []
            for part in msg.iter_parts() if msg.is_multipart() else []:
                payload = part.get_payload(decode=True) or b""
                parts.append({
                    "name": part.get_param("name", header="content-disposition"),
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type()
                    if part.get("Content-Type") else None,
                    "size": len(payload),
                    "text": payload.decode("latin-1") if len(payload) <= 256 else None,
                })
            self.reply_json(200, {"content_type": ctype, "parts": parts})
        else:
            self.reply_json(404, {"error": "no route"})

    def handle_one(self):
        try:
            self.route()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_one


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # 300 connects at once must not overflow it

    def handle_error(self, request, client_address):
        pass  # clients that hang up are part of the tests


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    srv = Server(("127.0.0.1", args.port), Handler)
    print("listening %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
