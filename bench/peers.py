"""The two servers the benchmark compares ours with.

    python3 bench/peers.py stdlib PORT DIRECTORY   # http.server, same endpoints as ours
    python3 bench/peers.py bare PORT               # canned response, no parsing: the ceiling

`stdlib` is what a Python programmer gets from the standard library when tuned fairly:
`ThreadingHTTPServer` (a thread per connection, like ours), HTTP/1.1 keep-alive through
`protocol_version`, TCP_NODELAY, a listen backlog of 1024 and no access log (ours runs
with `-q` in the same scenarios). Its endpoints do the same work as ours: `/echo/{text}`
gzips when asked, `GET /files/{name}` copies the file the way `SimpleHTTPRequestHandler`
does, `POST /files/{name}` writes a temporary file, fsyncs it, renames it and fsyncs the
folder.

`bare` is a thread-per-connection loop that answers every request head with the same
canned response without parsing it: one recv, one find, one sendall. Nothing written in
Python on this design can be faster, so it is the ceiling our server is measured against.
"""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, unquote_to_bytes


# Uploads are fsynced (file and folder) unless BENCH_FSYNC=0, to measure what it costs.
DURABLE = os.environ.get("BENCH_FSYNC", "1") == "1"


class StdlibHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    directory = "."

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        pass  # no access log, as ours with -q

    def send_body(self, status: int, content_type: str, body: bytes, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/":
            self.send_body(200, "text/plain", b"")
        elif self.path.startswith("/echo/"):
            body = unquote_to_bytes(self.path[len("/echo/") :])
            extra = {"Vary": "Accept-Encoding"}
            if "gzip" in self.headers.get("Accept-Encoding", ""):
                body = gzip.compress(body, compresslevel=6, mtime=0)
                extra["Content-Encoding"] = "gzip"
            self.send_body(200, "text/plain", body, extra)
        elif self.path.startswith("/files/"):
            path = os.path.join(self.directory, unquote(self.path[len("/files/") :]))
            try:
                file = open(path, "rb")
            except OSError:
                self.send_body(404, "text/plain", b"not found\n")
                return
            with file:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(os.fstat(file.fileno()).st_size))
                self.end_headers()
                shutil.copyfileobj(file, self.wfile)
        else:
            self.send_body(404, "text/plain", b"not found\n")

    def do_POST(self) -> None:
        if not self.path.startswith("/files/"):
            self.send_body(404, "text/plain", b"not found\n")
            return
        path = os.path.join(self.directory, unquote(self.path[len("/files/") :]))
        remaining = int(self.headers.get("Content-Length", "0"))
        descriptor, temporary = tempfile.mkstemp(dir=self.directory, suffix=".part")
        with os.fdopen(descriptor, "wb") as file:
            while remaining:
                piece = self.rfile.read(min(remaining, 64 * 1024))
                if not piece:
                    os.unlink(temporary)
                    self.close_connection = True
                    return
                file.write(piece)
                remaining -= len(piece)
            file.flush()
            if DURABLE:
                os.fsync(file.fileno())
        os.replace(temporary, path)
        if DURABLE:  # as ours does: flush the folder too, so the rename survives a crash
            folder = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
            os.fsync(folder)
            os.close(folder)
        self.send_body(201, "text/plain", b"")


def run_stdlib(port: int, directory: str) -> None:
    StdlibHandler.directory = directory
    ThreadingHTTPServer.request_queue_size = 1024
    ThreadingHTTPServer.daemon_threads = True
    with ThreadingHTTPServer(("127.0.0.1", port), StdlibHandler) as server:
        server.serve_forever()


CANNED = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
CANNED_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"


def bare_connection(sock: socket.socket) -> None:
    buffer = b""
    with sock:
        while True:
            data = sock.recv(65536)
            if not data:
                return
            buffer += data
            while (end := buffer.find(b"\r\n\r\n")) >= 0:
                head, buffer = buffer[:end], buffer[end + 4 :]
                if b"close" in head:
                    sock.sendall(CANNED_CLOSE)
                    return
                sock.sendall(CANNED)


def run_bare(port: int) -> None:
    listener = socket.create_server(("127.0.0.1", port), backlog=1024)
    while True:
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=bare_connection, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    try:
        if kind == "stdlib":
            run_stdlib(port, sys.argv[3])
        elif kind == "bare":
            run_bare(port)
        else:
            sys.exit(f"unknown peer {kind!r}; expected stdlib or bare")
    except KeyboardInterrupt:
        pass
