"""The command line, the accept loop, one thread per connection, and graceful shutdown.

The life of a request, from `accept()` to the last byte sent:

1. `main()` reads the command line into `Settings`, and `Server.serve_forever()` accepts
   connections on a socket from `socket.create_server`, starting one thread per client
   that runs `serve_connection()`.
2. `serve_connection()` is the keep-alive loop. `Connection.receive_request()` calls
   `recv()` into the connection's buffer until `http.parse_request()` finds a complete
   request head, with the idle and read-header timeouts running (enforced by the kernel:
   see `set_kernel_timeout`).
3. `respond()` calls `handlers.dispatch()`, which picks the handler for the path and
   method; the handler reads the body (if it wants it) and returns a `Response`.
4. `Connection.finish_body()` makes sure the body is consumed, so the next request starts
   at the front of the buffer, and `Connection.send_response()` adds the framing headers
   and sends head and body with one `sendall()` (a file body: the head, then the file
   with `os.sendfile()`, zero copy).
5. The loop goes on while both sides want to keep the connection; then
   `Connection.close()` closes the socket.

A request the parser refuses (`ProtocolError`) is answered with its status and a one-line
reason, and the connection closes.

With `--workers N` (N > 1), `Supervisor` forks N worker processes that each run all of the
above on their own listening socket bound to the same port (`SO_REUSEPORT`: the kernel
spreads new connections over the workers); the parent only restarts workers that die and
forwards Ctrl+C / SIGTERM to them.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

from app import handlers
from app.http import (
    CONTINUE_RESPONSE,
    ClientDisconnected,
    FileBody,
    ProtocolError,
    Request,
    Response,
    body_allowed,
    escape_for_log,
    http_date,
    parse_request,
    serialize_response_head,
    text_response,
)
from app.settings import Settings

log = logging.getLogger("app")
access_log = logging.getLogger("app.access")


class Connection:
    """One client socket and its receive buffer. Implements `http.ByteSource`, through
    which a request body pulls more bytes."""

    def __init__(self, sock: socket.socket, client: str, settings: Settings, stopping: threading.Event) -> None:
        self.sock = sock
        self.client = client
        self.settings = settings
        self.stopping = stopping
        self.buffer = bytearray()
        # True while waiting for the first byte of a request: the only moment at which
        # shutdown may close the connection without cutting a request off.
        self.idle = False
        # The socket stays in blocking mode and the kernel enforces our timeouts
        # (SO_RCVTIMEO, SO_SNDTIMEO): Python's settimeout() would turn every recv() and
        # sendall() into a poll() plus the call, and every change of value into an ioctl().
        set_kernel_timeout(sock, socket.SO_SNDTIMEO, settings.timeouts.write)
        self._receive_timeout: float | None = None

    def _recv(self, timeout: float, size: int) -> bytes:
        if timeout != self._receive_timeout:  # a system call: skip it when we can
            set_kernel_timeout(self.sock, socket.SO_RCVTIMEO, timeout)
            self._receive_timeout = timeout
        try:
            return self.sock.recv(size)
        except BlockingIOError:  # what a blocking socket raises when SO_RCVTIMEO expires
            raise TimeoutError("receive timed out") from None

    def receive_request(self) -> Request | None:
        """The next request, or None when the client closed the connection (or left it
        idle too long) between requests."""
        timeouts = self.settings.timeouts
        header_deadline: float | None = None
        while True:
            if self.buffer:  # (when it is empty, there is nothing to parse yet)
                request = parse_request(self, self.settings.limits)
                if request is not None:
                    return request
            if self.buffer:  # a request has begun: it must be complete in time
                if header_deadline is None:
                    header_deadline = time.monotonic() + timeouts.read_header
                timeout = header_deadline - time.monotonic()
                if timeout <= 0:
                    raise ProtocolError(408, "request headers not received in time")
            else:
                timeout = timeouts.idle
                self.idle = True
                if self.stopping.is_set():
                    return None
            try:
                data = self._recv(timeout, self.settings.limits.head_recv_size)
            except TimeoutError:
                if not self.buffer:
                    return None  # an idle keep-alive connection: close quietly
                raise ProtocolError(408, "request headers not received in time") from None
            except OSError as error:
                raise ClientDisconnected(f"while waiting for a request: {error}") from None
            finally:
                self.idle = False
            if not data:
                if self.buffer:
                    raise ClientDisconnected("closed in the middle of the request headers")
                return None
            self.buffer += data

    # http.ByteSource -------------------------------------------------------------------

    def receive_more(self) -> None:
        try:
            data = self._recv(self.settings.timeouts.body_stall, self.settings.limits.body_recv_size)
        except TimeoutError:
            raise ProtocolError(408, "request body stalled") from None
        except OSError as error:
            raise ClientDisconnected(f"while reading the body: {error}") from None
        if not data:
            raise ClientDisconnected("closed in the middle of the request body")
        self.buffer += data

    def send_continue(self) -> None:
        self.sock.sendall(CONTINUE_RESPONSE)

    # -----------------------------------------------------------------------------------

    def finish_body(self, request: Request) -> bool:
        """Consume what the handler left of the request body, so that the next request
        starts at the front of the buffer. Returns False when the connection cannot go
        on: the body was never sent (100-continue not given), too large to be worth
        reading just to drop, or malformed."""
        body = request.body
        if body.finished:
            return True
        if body.awaiting_continue:
            return False
        try:
            return body.discard(self.settings.limits.max_discarded_body)
        except ProtocolError:
            return False

    def send_response(self, request: Request | None, response: Response, keep_alive: bool) -> int:
        """Send the response, head and body in one `sendall` (a file body: the head, then
        the file with `send_file`); returns the body size."""
        headers = response.headers
        if self.settings.send_date:
            headers = [*headers, ("Date", http_date())]
        body = response.body
        if body_allowed(response.status):
            headers = [*headers, ("Content-Length", str(response.content_length))]
        if not keep_alive:
            headers = [*headers, ("Connection", "close")]
        elif request is not None and request.version == "HTTP/1.0":
            headers = [*headers, ("Connection", "keep-alive")]
        if not body_allowed(response.status) or (request is not None and request.method == "HEAD"):
            response.close()
            body = b""
        head = serialize_response_head(response.status, headers)
        if isinstance(body, FileBody):
            with body.file:
                self.sock.sendall(head)
                return self.send_file(body)
        self.sock.sendall(head + body)
        return len(body)

    def send_file(self, body: FileBody) -> int:
        """Send a stretch of a file with `os.sendfile`: the kernel copies it from the
        page cache to the socket (zero copy), so memory stays flat whatever its size.
        (Not `socket.sendfile()`: on a blocking socket, when the kernel's send timeout
        expires it waits for the client with no limit, and the write timeout is lost.)"""
        offset, end = body.offset, body.offset + body.length
        while offset < end:
            # Waits at most the write timeout (SO_SNDTIMEO) with no byte accepted, then
            # raises BlockingIOError, which ends the connection like any failed send.
            sent = os.sendfile(self.sock.fileno(), body.file.fileno(), offset, end - offset)
            if sent == 0:
                # The file shrank while we sent it: the Content-Length we promised cannot
                # be kept, so the connection must end here (RFC 9112 §6.3).
                raise ConnectionAbortedError(f"file ended after {offset - body.offset} of {body.length} bytes")
            offset += sent
        return body.length

    def close(self, client_may_be_sending: bool) -> None:
        """Close the connection. If the client may still be sending (an unread body, or
        a request refused half-way), first half-close and read what comes for a moment:
        closing a socket with unread data makes the kernel send RST, which can destroy
        our response before the client has read it (RFC 9112 §9.6)."""
        try:
            if client_may_be_sending:
                self.sock.shutdown(socket.SHUT_WR)
                deadline = time.monotonic() + self.settings.timeouts.lingering_close
                while (remaining := deadline - time.monotonic()) > 0:
                    self.sock.settimeout(remaining)
                    if not self.sock.recv(self.settings.limits.body_recv_size):
                        break
        except OSError:
            pass  # the client is gone already; nothing left to protect
        finally:
            self.sock.close()


def set_kernel_timeout(sock: socket.socket, option: int, seconds: float) -> None:
    """Set SO_RCVTIMEO or SO_SNDTIMEO: a blocking recv() or send() on the socket fails
    with EAGAIN after waiting `seconds` with no byte moved. (The kernel reads 0 as "no
    timeout", hence at least one microsecond.)"""
    whole = int(seconds)
    microseconds = max(int((seconds - whole) * 1_000_000), 0 if whole else 1)
    sock.setsockopt(socket.SOL_SOCKET, option, struct.pack("@ll", whole, microseconds))


def serve_connection(connection: Connection) -> None:
    """The keep-alive loop of one connection; runs in the connection's own thread."""
    settings = connection.settings
    log.debug("connection opened from %s", connection.client)
    client_may_be_sending = False
    try:
        while True:
            request: Request | None = None
            try:
                request = connection.receive_request()
                if request is None:
                    break
                started = time.perf_counter()
                response = respond(request, settings)
                keep_alive = (
                    request.keep_alive
                    and not connection.stopping.is_set()
                    and connection.finish_body(request)
                )
                size = connection.send_response(request, response, keep_alive)
                log_access(connection.client, request.raw_head, response.status, size, started)
                if not keep_alive:
                    client_may_be_sending = not request.body.finished or bool(connection.buffer)
                    break
            except ProtocolError as error:
                # Refused: answer why, then close, since after a framing error we cannot
                # know where the next request would start.
                started = time.perf_counter()
                head = request.raw_head if request is not None else bytes(connection.buffer)
                response = text_response(error.status, error.reason)
                size = connection.send_response(request, response, keep_alive=False)
                log_access(connection.client, head, error.status, size, started)
                client_may_be_sending = True
                break
    except ClientDisconnected as error:
        log.debug("client %s disconnected %s", connection.client, error)
    except OSError as error:  # a send failed: reset, broken pipe, write timeout
        log.debug("connection to %s lost: %s", connection.client, error)
    except Exception:
        log.exception("unexpected error on the connection to %s", connection.client)
    finally:
        connection.close(client_may_be_sending)
        log.debug("connection closed to %s", connection.client)


def respond(request: Request, settings: Settings) -> Response:
    """The handler's response; a 500 if the handler failed."""
    try:
        return handlers.dispatch(request, settings)
    except (ProtocolError, ClientDisconnected):
        raise  # about the request or the client, not a bug: the connection handles them
    except Exception:
        log.exception("handler failed for %s", request_line_for_log(request.raw_head))
        return text_response(500, "internal server error (the server log has the details)")


def request_line_for_log(raw_head: bytes) -> str:
    return escape_for_log(raw_head.split(b"\r\n", 1)[0][:1024].decode("latin-1"))


_log_timestamp_cache: tuple[int, str] = (0, "")


def log_timestamp() -> str:
    """The Common Log Format time, `22/Nov/2026:10:00:00 +0000`, formatted once a second."""
    global _log_timestamp_cache
    now = int(time.time())
    if _log_timestamp_cache[0] != now:
        _log_timestamp_cache = (now, time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(now)))
    return _log_timestamp_cache[1]


def log_access(client: str, raw_head: bytes, status: int, size: int, started: float) -> None:
    """One line per request in Common Log Format, plus how long it took."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    request_line = request_line_for_log(raw_head)
    elapsed_ms = (time.perf_counter() - started) * 1000
    timestamp = log_timestamp()
    access_log.info('%s - - [%s] "%s" %d %d %.1fms', client, timestamp, request_line, status, size, elapsed_ms)


def open_listener(settings: Settings, reuse_port: bool = False) -> socket.socket:
    """A listening socket on `settings.host` and `settings.port`. With `reuse_port`, other
    sockets may listen on the same port (SO_REUSEPORT), as the workers of --workers do."""
    host = settings.host
    return socket.create_server(
        (host, settings.port),
        family=socket.AF_INET6 if ":" in host else socket.AF_INET,
        backlog=settings.listen_backlog,
        reuse_port=reuse_port,
        dualstack_ipv6=host == "::" and socket.has_dualstack_ipv6(),
    )


class Server:
    """The listening socket and the connections it has open."""

    def __init__(self, settings: Settings, listener: socket.socket | None = None) -> None:
        self.settings = settings
        # Applies to threads started from now on: every connection thread.
        threading.stack_size(settings.thread_stack_size)
        self.listener = listener if listener is not None else open_listener(settings)
        self.port: int = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.hurry = threading.Event()  # a second Ctrl+C: skip the grace period
        self.connections: set[Connection] = set()
        self.connections_lock = threading.Lock()
        self.refusing = False  # at --max-connections: new connections get 503

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
            connection = Connection(sock, address[0], self.settings, self.stopping)
            with self.connections_lock:
                full = len(self.connections) >= self.settings.max_connections
                if not full:
                    self.connections.add(connection)
            if full:
                if not self.refusing:  # one warning per burst, not one per connection
                    log.warning("%d connections open: refusing new ones with 503", len(self.connections))
                self.refusing = True
                refuse_connection(sock, self.settings)
                continue
            self.refusing = False
            threading.Thread(target=self._run, args=(connection,), daemon=True).start()

    def _run(self, connection: Connection) -> None:
        try:
            serve_connection(connection)
        finally:
            with self.connections_lock:
                self.connections.remove(connection)

    def shutdown(self) -> str:
        """Go net/http style: stop accepting, close idle connections, give requests in
        flight a grace period to finish, then cut what is left. Returns a summary line."""
        self.stopping.set()
        try:
            # shutdown() (not just close()) is what wakes a thread blocked in accept().
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self.connections_lock:
            connections = list(self.connections)
        idle = [connection for connection in connections if connection.idle]
        for connection in idle:
            shut_down_socket(connection.sock)
        busy = len(connections) - len(idle)
        deadline = time.monotonic() + self.settings.timeouts.shutdown_grace
        while self.connections and time.monotonic() < deadline and not self.hurry.is_set():
            time.sleep(0.02)
        with self.connections_lock:
            cut = list(self.connections)
        for connection in cut:
            shut_down_socket(connection.sock)
        # Let the cut-off threads clean up (an upload removes its temporary file) before
        # the process exits and takes its daemon threads with it.
        cleanup_deadline = time.monotonic() + 1.0
        while self.connections and time.monotonic() < cleanup_deadline:
            time.sleep(0.01)
        summary = f"Stopped: closed {len(idle)} idle connection(s), {busy - len(cut)} finished in flight"
        if cut:
            summary += f", {len(cut)} cut off after the {self.settings.timeouts.shutdown_grace:g}s grace period"
        return summary + "."


def refuse_connection(sock: socket.socket, settings: Settings) -> None:
    """Answer a connection beyond `--max-connections` with 503 and close it, from the
    accept loop itself (no thread: running out of threads is what the limit prevents).
    Nothing here may block: the socket is non-blocking, and the answer is small enough to
    fit in the socket's send buffer."""
    response = text_response(
        503,
        f"too many connections (at most {settings.max_connections}); try again later",
        [("Retry-After", str(settings.retry_after)), ("Connection", "close")],
    )
    try:
        sock.setblocking(False)
        try:
            # Read what the client has already sent: closing a socket with unread data
            # sends RST, which could destroy the 503 before the client reads it.
            sock.recv(settings.limits.body_recv_size)
        except BlockingIOError:
            pass
        sock.send(
            serialize_response_head(503, [*response.headers, ("Content-Length", str(len(response.body)))])
            + response.body
        )
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the client is gone already
    finally:
        sock.close()


def shut_down_socket(sock: socket.socket) -> None:
    """Wake the thread blocked on this socket: its recv() returns b"" at once."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------
# Worker processes (--workers N)
# ---------------------------------------------------------------------------------------


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class Supervisor:
    """The parent of `--workers N`: forks N workers, each a whole `Server` with its own
    listening socket on the shared port (SO_REUSEPORT: the kernel balances new connections
    between the sockets, so no lock guards accept()). The parent opens each worker's
    socket before forking it, so the port is listening by the time the banner is printed.
    It serves nothing itself: it replaces a worker that dies and, on Ctrl+C or SIGTERM,
    asks every worker to stop gracefully (SIGTERM) and waits for them."""

    def __init__(self, settings: Settings) -> None:
        first = open_listener(settings, reuse_port=True)
        self.port: int = first.getsockname()[1]  # the free port --port 0 found, if so
        self.settings = dataclasses.replace(settings, port=self.port)
        self.spare_listeners = [first]
        self.workers: dict[int, tuple[socket.socket, float]] = {}  # pid -> (listener, start)

    def run(self, banner: str) -> str:
        """Keep the workers running until Ctrl+C or SIGTERM; returns a summary line."""
        try:
            print(banner, flush=True)
            for _ in range(self.settings.workers - 1):
                self.spare_listeners.append(open_listener(self.settings, reuse_port=True))
            while self.spare_listeners:
                self.start_worker(self.spare_listeners.pop())
            while True:
                pid, status = os.wait()
                if pid not in self.workers:
                    continue
                listener, started = self.workers.pop(pid)
                # Close the dead worker's socket at once, so that the kernel stops queuing
                # connections nobody accepts; the new worker gets a socket of its own.
                listener.close()
                log.warning("worker %d %s; starting a new one", pid, describe_exit(status))
                if time.monotonic() - started < self.settings.worker_restart_delay:
                    time.sleep(self.settings.worker_restart_delay)
                self.start_worker(open_listener(self.settings, reuse_port=True))
        except KeyboardInterrupt:
            pass
        return self.stop_workers()

    def start_worker(self, listener: socket.socket) -> None:
        # Signals wait until the child has its own handlers: a Ctrl+C landing between
        # fork() and those must not run the parent's handler inside the child.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        pid = os.fork()
        if pid == 0:
            others = [other for other, _ in self.workers.values()] + self.spare_listeners
            run_worker(self.settings, listener, others)  # never returns
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        self.workers[pid] = (listener, time.monotonic())
        log.debug("worker %d started", pid)

    def stop_workers(self) -> str:
        stopping = len(self.workers)
        for pid in self.workers:
            signal_quietly(pid, signal.SIGTERM)
        # Each worker has its own grace period for requests in flight; one still running
        # well after that is killed outright.
        deadline = time.monotonic() + self.settings.timeouts.shutdown_grace + 5
        while self.workers:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            except KeyboardInterrupt:  # a second Ctrl+C: workers stop waiting for requests
                for pid in self.workers:
                    signal_quietly(pid, signal.SIGTERM)
                continue
            if pid in self.workers:
                self.workers.pop(pid)[0].close()
            elif pid == 0:
                if time.monotonic() > deadline:
                    for pid in self.workers:
                        signal_quietly(pid, signal.SIGKILL)
                time.sleep(0.02)
        for listener in self.spare_listeners:
            listener.close()
        return f"Stopped {stopping} workers."


def run_worker(settings: Settings, listener: socket.socket, others: list[socket.socket]) -> None:
    """The body of a forked worker: one `Server` on its listening socket, until SIGTERM
    from the parent. Never returns: the worker must not fall back into the parent's code."""
    exit_code = 1
    try:
        for other in others:
            other.close()  # the other workers' sockets: this process's copies only
        # Ctrl+C in a terminal reaches the whole process group; the parent forwards it
        # as SIGTERM, so the worker ignores the direct copy and stops once, gracefully.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        server = Server(settings, listener)
        log.debug("worker %d listening on port %d", os.getpid(), server.port)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        # As in main(): another stop signal only cuts the grace period short.
        signal.signal(signal.SIGTERM, lambda *_: server.hurry.set())
        log.debug("worker %d: %s", os.getpid(), server.shutdown())
        exit_code = 0
    except BaseException:
        log.exception("worker %d failed", os.getpid())
    finally:
        logging.shutdown()
        os._exit(exit_code)


def signal_quietly(pid: int, signal_number: int) -> None:
    try:
        os.kill(pid, signal_number)
    except ProcessLookupError:
        pass  # already gone


def describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def existing_directory(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is not a directory")
    return path


# The shipped site (www/index.html), served when --www is not given.
DEFAULT_WWW = Path(__file__).resolve().parent.parent / "www"


def site_directory(value: str) -> Path | None:
    """`--www DIR`; an empty value means no site at all."""
    return existing_directory(value) if value else None


def byte_count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value} is not a number of bytes")
    return int(value)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="your_program.sh",
        description="An HTTP/1.1 server: echo, user-agent, files from a directory, and a static site.",
    )
    defaults = Settings()
    parser.add_argument(
        "--directory",
        type=existing_directory,
        help="serve GET /files/NAME from this directory, list it at GET /files/, store POST and "
        "PUT /files/NAME uploads in it and remove files on DELETE (without it, the file routes "
        "answer 404 and 403)",
    )
    parser.add_argument(
        "--www",
        type=site_directory,
        metavar="DIR",
        default=DEFAULT_WWW if DEFAULT_WWW.is_dir() else None,
        help="serve a static site from this directory: GET / answers its index.html, other paths "
        "its files (default: the www/ folder beside the program; --www '' for none, then GET / "
        "answers an empty 200)",
    )
    parser.add_argument(
        "--no-listing",
        action="store_true",
        help="answer 404 for folders without index.html and for GET /files/, instead of a listing",
    )
    parser.add_argument(
        "--max-upload",
        type=byte_count,
        default=defaults.limits.max_upload,
        metavar="BYTES",
        help="refuse uploads larger than this with 413 (default: %(default)s)",
    )
    parser.add_argument("--host", default=defaults.host, help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=defaults.port, help="port to listen on; 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--date", action="store_true", help="send a Date header on every response (RFC 9110 section 6.6.1)"
    )
    add_limit_options(parser, defaults)
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=defaults.workers,
        help="worker processes sharing the port, one per CPU core to use all of them; each is a "
        "whole thread-per-connection server, a worker that dies is replaced (default: %(default)s: "
        "no worker processes, the server runs in this one)",
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v", "--verbose", action="store_true", help="also log connections opening and closing"
    )
    verbosity.add_argument("-q", "--quiet", action="store_true", help="no access log; warnings and errors only")
    return parser.parse_args(argv)


def positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number")
    return number


def positive_seconds(value: str) -> float:
    seconds = float(value)
    if not seconds > 0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of seconds")
    return seconds


def add_limit_options(parser: argparse.ArgumentParser, defaults: Settings) -> None:
    """One option per limit and timeout of `settings.py`, defaults shown in --help."""
    limits, timeouts = defaults.limits, defaults.timeouts
    group = parser.add_argument_group("limits and timeouts (see README: Limits and hardening)")
    for option, default, unit, help_text in [
        ("--max-connections", defaults.max_connections, "", "connections served at once; more get 503"),
        ("--backlog", defaults.listen_backlog, "", "connections the kernel queues before accept()"),
        ("--max-request-line", limits.max_request_line, "bytes", "longest request line; 414 beyond"),
        ("--max-header-bytes", limits.max_header_bytes, "bytes", "largest header section; 431 beyond"),
        ("--max-header-fields", limits.max_header_fields, "", "most header fields; 431 beyond"),
        ("--max-body", limits.max_in_memory_body, "bytes", "largest body held in memory (/echo); 413 beyond"),
    ]:
        parser_help = f"{help_text} (default: {default}{' ' + unit if unit else ''})"
        group.add_argument(option, type=positive_int, default=default, metavar="N", help=parser_help)
    for option, default, help_text in [
        ("--header-timeout", timeouts.read_header, "seconds to send a whole request head; 408 after"),
        ("--idle-timeout", timeouts.idle, "seconds a keep-alive connection may wait for its next request"),
        ("--body-timeout", timeouts.body_stall, "seconds a request body may stall before it is dropped"),
        ("--write-timeout", timeouts.write, "seconds a client may take to accept response bytes"),
    ]:
        group.add_argument(
            option, type=positive_seconds, default=default, metavar="SECONDS", help=f"{help_text} (default: {default:g})"
        )


def settings_from_arguments(arguments: argparse.Namespace) -> Settings:
    defaults = Settings()
    return Settings(
        host=arguments.host,
        port=arguments.port,
        directory=arguments.directory,
        www=arguments.www,
        listing=not arguments.no_listing,
        send_date=arguments.date,
        listen_backlog=arguments.backlog,
        max_connections=arguments.max_connections,
        limits=dataclasses.replace(
            defaults.limits,
            max_request_line=arguments.max_request_line,
            max_header_bytes=arguments.max_header_bytes,
            max_header_fields=arguments.max_header_fields,
            max_in_memory_body=arguments.max_body,
            max_upload=arguments.max_upload,
        ),
        timeouts=dataclasses.replace(
            defaults.timeouts,
            read_header=arguments.header_timeout,
            idle=arguments.idle_timeout,
            body_stall=arguments.body_timeout,
            write=arguments.write_timeout,
        ),
        workers=arguments.workers,
    )


def configure_logging(verbose: bool, quiet: bool, workers: int = 1) -> None:
    """Logs go to stderr with a timestamp; access lines carry their own (Common Log Format).
    With worker processes, each line also names the process that wrote it."""
    # Skip what no line of ours prints: the caller's file and line (a stack walk per
    # record), the thread name and the multiprocessing process name. This is the
    # "Optimization" section of the Logging HOWTO; it halves the cost of an access line.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    process = "[pid %(process)d] " if workers > 1 else ""
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {process}%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False

    access_handler = logging.StreamHandler(sys.stderr)
    access_handler.setFormatter(logging.Formatter("%(message)s"))
    access_log.addHandler(access_handler)
    access_log.setLevel(logging.WARNING if quiet else logging.INFO)
    access_log.propagate = False


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    configure_logging(arguments.verbose, arguments.quiet, arguments.workers)
    settings = settings_from_arguments(arguments)
    if settings.workers > 1:
        return supervise(settings)
    try:
        server = Server(settings)
    except OSError as error:
        print(f"cannot listen on {settings.host} port {settings.port}: {error.strerror}", file=sys.stderr)
        return 1
    # Ctrl+C (SIGINT) and SIGTERM (kill, systemd, docker) both stop the server. SIGINT is
    # installed explicitly: a shell starts background jobs with SIGINT ignored, and Python
    # then leaves it ignored.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.default_int_handler)
    url_host = f"[{settings.host}]" if ":" in settings.host else settings.host
    try:
        # Inside the try: a signal may arrive as soon as the banner is out (a script
        # waits for it, then stops us), before serve_forever() has begun.
        print(f"Serving HTTP on {settings.host} port {server.port} (http://{url_host}:{server.port}/) ...", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    # From here on a stop signal only cuts the grace period short: an exception raised
    # in the middle of the shutdown would leave it half done.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: server.hurry.set())
    print(server.shutdown(), flush=True)
    return 0


def supervise(settings: Settings) -> int:
    """`main()` for --workers N > 1: the parent process of the workers."""
    try:
        supervisor = Supervisor(settings)
    except OSError as error:
        print(f"cannot listen on {settings.host} port {settings.port}: {error.strerror}", file=sys.stderr)
        return 1
    for stop_signal in (signal.SIGINT, signal.SIGTERM):  # see main()
        signal.signal(stop_signal, signal.default_int_handler)
    url_host = f"[{settings.host}]" if ":" in settings.host else settings.host
    banner = (
        f"Serving HTTP on {settings.host} port {supervisor.port} (http://{url_host}:{supervisor.port}/) "
        f"with {settings.workers} worker processes ..."
    )
    print(supervisor.run(banner), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
