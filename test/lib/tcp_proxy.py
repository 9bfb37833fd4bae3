#!/usr/bin/env python3
"""A TCP forwarder on 127.0.0.1: the cross-region link of the two-region tests.

    tcp_proxy.py LISTEN_PORT TARGET_PORT

Accepts on 127.0.0.1:LISTEN_PORT and forwards each connection, both ways, to
127.0.0.1:TARGET_PORT, one thread per direction (a blocked direction never
holds up another: pg_basebackup -X stream runs two connections at once).
The link is cut in one step by killing this process (SIGKILL): the kernel
closes every forwarded connection and the port stops accepting, as a lost
region's link does.
"""
import socket
import sys
import threading

listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen_port))
srv.listen(64)
print("ready", flush=True)
while True:
    c, _ = srv.accept()
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        t.connect(("127.0.0.1", target_port))
    except OSError:
        c.close()
        t.close()
        continue
    for a, b in ((c, t), (t, c)):
        threading.Thread(target=pump, args=(a, b), daemon=True).start()
