#!/usr/bin/env python3
"""A real HTTP receiver for the webhook tests, on 127.0.0.1 only.

    webhook_receiver.py PORT LOGFILE

Every request is appended to LOGFILE as one JSON line (time, path, headers,
body, the status answered).  The path chooses the behaviour:
    /ok             200
    /flaky          500 on the first request of each Idempotency-Key, then 200
    /hang           never answers in time (sleeps 30 s, then 200)
    /status/NNN     answers NNN
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, logfile = int(sys.argv[1]), sys.argv[2]
seen = set()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode("utf-8")
        key = self.headers.get("Idempotency-Key", "")
        path = self.path
        if path == "/hang":
            threading.Event().wait(30)
            status = 200
        elif path == "/flaky":
            with lock:
                status = 200 if key in seen else 500
                seen.add(key)
        elif path.startswith("/status/"):
            status = int(path.split("/")[2])
        else:
            status = 200
        with lock, open(logfile, "a") as f:
            f.write(json.dumps({"t": time.time(), "path": path, "status": status,
                                "headers": {k.lower(): v for k, v in self.headers.items()},
                                "body": body}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
