"""The listening socket, the accept loop, and graceful shutdown.

`Server.serve_forever()` accepts connections and starts one thread per client, which
runs `Connection.serve()` (`connection.py`). At `--max-connections` the accept loop
makes room by closing the connection idle the longest (`make_room`), as nginx reuses idle
keep-alive connections; only when every connection has a request in progress is a new
client answered 503 from the accept loop itself (`refuse_connection`).
`Server.shutdown()` stops the way Go's net/http does: close the listener, then the idle connections, then give the
requests in flight a grace period.
"""

from __future__ import annotations

import _thread
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app import accesslog
from app.admission import add_response_headers
from app.connection import Connection, CrowdedFlag, StopFlag
from app.framing import response_head, sends_date, text_response
from app.settings import Settings
from app.trace import TracedConnection

if TYPE_CHECKING:  # only for annotations: `ssl` maps libssl and libcrypto (~6 MiB of RSS)
    import ssl  # that a plain-HTTP server never uses; app/tls.py imports it when --tls-cert asks

log = logging.getLogger("app")


def open_listener(settings: Settings, reuse_port: bool = False) -> socket.socket:
    """A listening socket on `settings.host` and `settings.port`. With `reuse_port`, other
    sockets may listen on the same port (SO_REUSEPORT), as the workers of --workers do."""
    host = settings.host
    return socket.create_server(
        (host, settings.port),
        family=socket.AF_INET6 if ":" in host else socket.AF_INET,
        backlog=settings.backlog,
        reuse_port=reuse_port,
        dualstack_ipv6=host == "::" and socket.has_dualstack_ipv6(),
    )


class Server:
    """The listening socket and the connections it has open."""

    def __init__(
        self,
        settings: Settings,
        listener: socket.socket | None = None,
        tls_context: ssl.SSLContext | None = None,
        shared: bool = False,
    ) -> None:
        """`shared`: other processes accept on `listener` too (systemd's socket, passed to
        every worker); it is then only closed at shutdown, never shut down."""
        self.settings = settings
        self.tls_context = tls_context  # HTTPS (tls.server_context()); None: plain HTTP
        self.shared = shared
        # Applies to threads started from now on: every connection thread.
        threading.stack_size(settings.thread_stack_size)
        self.listener = listener if listener is not None else open_listener(settings)
        self.port: int = self.listener.getsockname()[1]
        self.stopping = StopFlag()
        self.skip_grace = threading.Event()  # a second Ctrl+C: stop waiting for requests
        self.connections: set[Connection] = set()
        self.connections_lock = threading.Lock()
        # More than half the connection slots taken: idle connections then wait less.
        self.crowded = CrowdedFlag()
        self.refusing = False  # at --max-connections: new connections get 503
        # Chosen once: with --trace off, connections run no trace code at all.
        self.connection_class = TracedConnection if settings.trace or settings.trace_body else Connection

    def serve_forever(self) -> None:
        """Accept connections until `shutdown()` is called (or Ctrl+C reaches the main
        thread), one thread each."""
        while not self.stopping.is_set():
            try:
                sock, address = self.listener.accept()
            except OSError as error:
                if self.stopping.is_set():
                    break  # shutdown() closed the listener
                # Out of file descriptors or memory, say: wait for connections to close
                # rather than spin.
                log.warning("accept failed: %s", error)
                time.sleep(0.1)
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = self.connection_class(
                sock, address[0], self.settings, self.stopping, self.tls_context, self.crowded
            )
            if self.admit(connection):
                # One thread per client, started with the low-level `_thread` module: a
                # `threading.Thread` costs 8x the instructions (its Python bookkeeping:
                # Condition, Event, name, registry) and `start()` blocks the accept loop
                # until the new thread runs. Nothing here needs what it adds (join, names,
                # `threading.enumerate`): shutdown counts `self.connections` instead.
                start_thread(self.run_connection, connection)
            elif self.tls_context is None:
                refuse_connection(sock, self.settings)
            else:
                # A 503 over TLS needs a handshake, which must not happen in this loop:
                # the client sees the connection close instead.
                sock.close()

    def admit(self, connection: Connection) -> bool:
        """Count the connection in, unless `--max-connections` are open already and none
        of them is idle to make room."""
        with self.connections_lock:
            full = len(self.connections) >= self.settings.max_connections and not self.make_room()
            if not full:
                self.connections.add(connection)
                self.count_changed()
        if full and not self.refusing:  # one warning per burst, not one per connection
            log.warning("%d connections open: refusing new ones with 503", len(self.connections))
        self.refusing = full
        return not full

    def make_room(self) -> bool:
        """With `connections_lock` held: close the connection idle the longest, if any;
        it leaves the count at once (its thread only has a socket left to close)."""
        idle = [connection for connection in self.connections if connection.idle_since is not None]
        if not idle:
            return False
        idlest = min(idle, key=lambda connection: connection.idle_since or 0.0)
        idlest.evict()
        self.connections.discard(idlest)
        return True  # the caller adds the new connection: the count is back where it was

    def count_changed(self) -> None:
        """With `connections_lock` held, after a connection came or went: whether more
        than half the connection slots are taken now (`self.crowded`, read by each idle
        connection as it starts waiting for its next request)."""
        self.crowded.on = len(self.connections) * 2 > self.settings.max_connections

    def run_connection(self, connection: Connection) -> None:
        """The body of a connection's thread."""
        try:
            connection.serve()
        finally:
            with self.connections_lock:
                self.connections.discard(connection)  # an evicted one has left already
                self.count_changed()

    def shutdown(self) -> str:
        """Stop accepting, close idle connections, give requests in flight a grace period
        to finish, then cut what is left. Returns a summary line."""
        self.stopping.set()
        try:
            # shutdown() (not just close()) is what wakes a thread blocked in accept(). It
            # acts on the socket itself, not this process's descriptor: on a shared socket
            # it would stop the others from accepting too (a signal has woken us anyway).
            if not self.shared:
                self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self.connections_lock:
            connections = list(self.connections)
        idle = [connection for connection in connections if connection.idle]
        for connection in idle:
            connection.wake()
        self.wait_for_connections(self.settings.timeouts.shutdown_grace, self.skip_grace)
        with self.connections_lock:
            cut = list(self.connections)
        for connection in cut:
            connection.wake()
        # Let the cut-off threads clean up (an upload removes its temporary file) before
        # the process exits and takes its daemon threads with it.
        self.wait_for_connections(1.0)
        accesslog.flush()  # every line of every request answered, before the process ends
        finished = len(connections) - len(idle) - len(cut)
        summary = f"Stopped: closed {len(idle)} idle connection(s), {finished} finished in flight"
        if cut:
            summary += f", {len(cut)} cut off after the {self.settings.timeouts.shutdown_grace:g}s grace period"
        return summary + "."

    def wait_for_connections(self, seconds: float, cut_short: threading.Event | None = None) -> None:
        """Wait until every connection has closed, `seconds` at most."""
        deadline = time.monotonic() + seconds
        while self.connections and time.monotonic() < deadline:
            if cut_short is not None and cut_short.is_set():
                return
            time.sleep(0.01)


# Python runs a signal's handler in the main thread, and only once the signal has
# interrupted what the main thread was doing: a SIGTERM the kernel hands to another
# thread leaves the main thread blocked in accept() for good. So every other thread
# starts with these blocked (a thread inherits the mask of the one that starts it), and
# the kernel delivers them to the main thread.
MAIN_THREAD_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def start_thread(function: Callable[..., object], *args: object) -> None:
    """Start a thread running `function(*args)`, with `MAIN_THREAD_SIGNALS` blocked in it.
    Like `threading.Thread`, it installs the hooks of `threading.settrace()` and
    `threading.setprofile()` in the new thread, which coverage, profilers and debuggers use."""
    trace, profile = threading.gettrace(), threading.getprofile()
    if trace is not None or profile is not None:
        args = (trace, profile, function, *args)
        function = run_with_hooks
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, MAIN_THREAD_SIGNALS)
    try:
        _thread.start_new_thread(function, args)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def run_with_hooks(trace: Any, profile: Any, function: Callable[..., object], *args: object) -> None:
    sys.settrace(trace)
    sys.setprofile(profile)
    function(*args)


def refuse_connection(sock: socket.socket, settings: Settings) -> None:
    """Answer a connection beyond `--max-connections` with 503 and close it, from the
    accept loop itself (no thread: running out of threads is what the limit prevents).
    Nothing here may block: the socket is non-blocking, and the answer is small enough to
    fit in the socket's send buffer."""
    response = text_response(
        503,
        f"too many connections (at most {settings.max_connections}); try again later",
        [("Retry-After", str(settings.retry_after))],
    )
    add_response_headers(response, None, settings)
    try:
        sock.setblocking(False)
        try:
            # Read what the client has already sent: closing a socket with unread data
            # sends RST, which could destroy the 503 before the client reads it.
            sock.recv(settings.limits.body_recv_size)
        except BlockingIOError:
            pass
        sock.send(response_head(response, None, keep_open=False, date=sends_date(None, settings.date)) + response.body)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the client is gone already
    finally:
        sock.close()
