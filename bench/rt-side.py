#!/usr/bin/env python3
# rt-side.py: a tiny stand-in for Request Tracker's mail gateway, so that
# the benchmark can run RT's own rt-mailgate beside m2wo. HTTPS on
# 127.0.0.1 with a self-signed EC P-256 certificate made by the openssl CLI
# (as the OutSmart simulator does); it answers POST
# /REST/1.0/NoAuth/mail-gateway with "ok: Message recorded" as RT does, and
# GET /stats with what it received, so that the benchmark can check that
# rt-mailgate really posted the message. Python 3 standard library only.
#
#   rt-side.py --dir DIR     writes DIR/cert.pem, DIR/key.pem, then DIR/port

import argparse
import email.parser
import email.policy
import hashlib
import json
import os
import signal
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tests"))
import simlib  # noqa: E402  (its certificate maker)

GATEWAY = "/REST/1.0/NoAuth/mail-gateway"
MAX_BODY = 64 * 1024 * 1024


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.posts = 0
        self.connections = 0
        self.last = {}


def form_fields(content_type, body):
    """The fields of a multipart/form-data body: name -> bytes."""
    head = ("Content-Type: %s\r\nMIME-Version: 1.0\r\n\r\n"
            % content_type).encode("latin-1")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        head + body)
    fields = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[name] = part.get_payload(decode=True) or b""
    return fields


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Apache"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.stats.lock:
            self.server.stats.connections += 1

    def quickack(self):
        if hasattr(socket, "TCP_QUICKACK"):
            try:
                self.connection.setsockopt(socket.IPPROTO_TCP,
                                           socket.TCP_QUICKACK, 1)
            except OSError:
                pass

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                self.quickack()
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("too large")
        self.quickack()
        return self.rfile.read(length)

    def reply(self, status, text, ctype="text/plain; charset=utf-8"):
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path != "/stats":
            return self.reply(404, "not found\n")
        st = self.server.stats
        with st.lock:
            data = {"posts": st.posts, "connections": st.connections,
                    "last": st.last}
        self.reply(200, json.dumps(data) + "\n", "application/json")

    def do_POST(self):
        try:
            body = self.read_body()
        except ValueError:
            self.close_connection = True
            return self.reply(413, "too large\n")
        if self.path.split("?")[0] != GATEWAY:
            return self.reply(404, "not found\n")
        fields = form_fields(self.headers.get("Content-Type", ""), body)
        message = fields.get("message", b"")
        st = self.server.stats
        with st.lock:
            st.posts += 1
            st.last = {
                "bytes": len(message),
                "sha256": hashlib.sha256(message).hexdigest(),
                "queue": fields.get("queue", b"").decode("utf-8", "replace"),
                "action": fields.get("action", b"").decode("utf-8",
                                                            "replace"),
            }
        # RT answers "ok" (or "not ok") on the first line; rt-mailgate
        # checks only that.
        self.reply(200, "ok: Message recorded\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, context):
        self.stats = Stats()
        self.context = context
        super().__init__(("127.0.0.1", 0), Handler)

    def get_request(self):
        sock, addr = super().get_request()
        return self.context.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        try:
            request.do_handshake()
        except (OSError, ssl.SSLError):
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass


def main():
    ap = argparse.ArgumentParser(description="RT mail-gateway stand-in")
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    cert, key = simlib.self_signed(args.dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = Server(context)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tmp = os.path.join(args.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, os.path.join(args.dir, "port"))
    parent = os.getppid()
    while not stop.wait(0.5):
        if os.getppid() != parent:
            break
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
