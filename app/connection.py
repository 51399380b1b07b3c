"""One connection, from its first byte to its close, in the thread the server started
for it: receiving request heads into a buffer, the keep-alive loop (`Connection.serve()`,
one `exchange()` per request), dispatching to the handlers, sending (`sendall`,
`os.sendfile` for files, piece by piece for a body of unknown length), the lingering
close, the access line, and why the connection ended (`close_reason`, set where that is
decided and logged once, by `close()`). Over HTTPS it also runs the TLS handshake first
(`start_tls()`, with `tls.py`).

`--trace` uses `TracedConnection` (`trace.py`), a subclass that overrides the methods
marked "hook" here; this class does no trace work at all.

Read it top to bottom; the README's "The life of a request" follows one request through it.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import struct
import threading
import time
from typing import TYPE_CHECKING

from app import admission, handlers, tls
from app.accesslog import log_access, request_line_for_log
from app.errors import ClientDisconnected, ProtocolError
from app.forwarded import client_address
from app.framing import (
    CONTINUE_RESPONSE,
    FileBody,
    Response,
    StreamBody,
    close_delimited,
    framed_pieces,
    response_head,
    sends_body,
    sends_date,
    text_response,
)
from app.http import parse_request
from app.request import Request
from app.settings import Settings

if TYPE_CHECKING:  # only for annotations: `ssl` maps libssl and libcrypto (~6 MiB of RSS)
    import ssl  # that a plain-HTTP server never uses; app/tls.py imports it when --tls-cert asks

log = logging.getLogger("app")


class StopFlag(threading.Event):
    """The server's "stopping" event, whose state is also a plain attribute, `on`: each
    request reads it, and `Event.is_set()` is a Python call (issue 20)."""

    on = False

    def set(self) -> None:
        self.on = True
        super().set()


class CrowdedFlag:
    """Whether the server is crowded (more than half its connection slots taken): the
    server sets `on` as connections come and go, and each idle wait reads it, a plain
    attribute, rather than asking the server with a call (issue 20)."""

    on = False


class Connection:
    """One client socket and its receive buffer; also the `bodies.ByteSource` through which
    a request body asks for more bytes."""

    def __init__(
        self,
        sock: socket.socket,
        client: str,
        settings: Settings,
        stopping: StopFlag,
        tls_context: ssl.SSLContext | None = None,
        crowded: CrowdedFlag | None = None,
    ) -> None:
        self.sock: socket.socket = sock  # an ssl.SSLSocket once start_tls() has wrapped it
        self.tls_context = tls_context  # HTTPS: the handshake comes before the first request
        self.encrypted = False  # the TLS handshake is done
        self.client = client
        self.settings = settings
        self.stopping = stopping
        # Whether the options give the gate before the route, or the headers after it, any
        # work: a plain launch skips both calls on every request (issue 20).
        self.gated = admission.gates(settings)
        self.decorated = admission.decorates(settings)
        # Whether the server is crowded: then a connection waits less for its next request.
        self.crowded = crowded if crowded is not None else CrowdedFlag()
        self.buffer = bytearray()
        # The time.monotonic() at which the connection began waiting for the first byte of
        # a request, None while a request is in progress. Only an idle connection may be
        # closed (at shutdown, or to make room: `evict()`) without cutting a request off.
        self.idle_since: float | None = None
        # Set by `evict()`: the server wants the slot back, so no further request here.
        self.evicted = False
        # The request body being received, for --min-body-rate: when the server first
        # waited for its bytes (None: not yet, for this request) and how many came since.
        self.body_started: float | None = None
        self.body_bytes = 0
        # Set when the connection ends while the client may still be sending (an unread
        # body, a refused request): `close()` then lingers (RFC 9112 §9.6).
        self.client_may_be_sending = False
        # The timeout in force for each direction (SO_RCVTIMEO, SO_SNDTIMEO): see set_timeout().
        # Both are set here, in the accept loop's thread, so that the connection's own
        # thread mostly never sets one: CPython's setsockopt() with a struct timeval first
        # fails two argument parses, whose error formatting (vsnprintf) reaches 8.5 KiB
        # down the C stack, a third stack page touched: 4 KiB more per idle connection
        # (issue 20, tests/test_idle_memory.py). Over TLS, the handshake sets its own.
        self._timeouts: dict[int, float] = {}
        self.set_timeout(socket.SO_SNDTIMEO, settings.timeouts.write_timeout)
        if tls_context is None:
            self.set_timeout(socket.SO_RCVTIMEO, self.idle_timeout())
        # Why the connection ended, in words (for `-v` and `--trace`): set where the
        # decision is made, read once by `close()`.
        self.close_reason = "client closed the connection"

    # The keep-alive loop ------------------------------------------------------------------

    def serve(self) -> None:
        """Serve requests until either side ends the connection; then close it."""
        log.debug("connection opened from %s", self.client)
        try:
            if self.tls_context is None or self.start_tls():
                while self.exchange():
                    pass
        except ClientDisconnected as error:
            self.close_reason = f"client disconnected: {error}"
        except OSError as error:  # a send failed: reset, broken pipe, write timeout
            self.close_reason = self.send_failure(error)
        except Exception as error:
            log.exception("unexpected error on the connection to %s", self.client)
            self.close_reason = f"server error: {error!r}"
        finally:
            self.close()
            log.debug("connection closed to %s: %s", self.client, self.close_reason)

    def send_failure(self, error: OSError) -> str:
        """Why sending failed, in words."""
        if isinstance(error, (BlockingIOError, TimeoutError)):  # SO_SNDTIMEO expired
            return f"write timeout: the client accepted no byte for {self.settings.timeouts.write_timeout:g}s"
        if isinstance(error, ConnectionResetError):
            return "reset by the client while the response was sent"
        if isinstance(error, BrokenPipeError):
            return "client closed the connection before the response was sent"
        return f"lost while sending: {error}"

    def exchange(self) -> bool:
        """Receive one request and answer it; whether the connection goes on. The common
        exchange (no body left unread, nothing that ends the connection) decides to keep
        it open with one test of plain attributes; anything else asks
        `drain_and_keep_open`, which also says why a connection ends (issue 20)."""
        request: Request | None = None
        try:
            request = self.receive_request()
            if request is None:
                return False
            started = time.perf_counter()
            self.body_started = None
            settings = self.settings
            if settings.forwarded_allow_ips:
                request.client = client_address(self.client, request.headers, settings.forwarded_allow_ips)
            else:
                request.client = self.client
            response = self.respond(request) if self.gated else self.dispatch(request)
            if (
                request.body.finished
                and request.wants_keep_alive
                and not self.stopping.on
                and not self.evicted
                and type(response.body) is not StreamBody
            ):
                keep_open = True
            else:
                self.read_unread_chunked_body(request, response)
                keep_open = self.drain_and_keep_open(request) and not close_delimited(response, request)
            size = self.send(response, request, keep_open)
            log_access(request.client, request.raw_head, response.status, size, started)
            if not keep_open:
                self.client_may_be_sending = not request.body.finished or bool(self.buffer)
            return keep_open
        except ProtocolError as error:
            self.refuse(request, error)
            return False

    def respond(self, request: Request) -> Response:
        """The gate's answer (CORS preflight, lock-out, password: `admission.py`), else the
        handler's response. Only when the settings give the gate work (`self.gated`)."""
        return admission.before_route(request, self.settings, request.client) or self.dispatch(request)

    def dispatch(self, request: Request) -> Response:
        """The handler's response; a 500 if the handler failed."""
        try:
            return handlers.dispatch(request, self.settings)
        except (ProtocolError, ClientDisconnected):
            raise  # about the request or the client, not a bug: `exchange` handles them
        except Exception:
            log.exception("handler failed for %s", request_line_for_log(request.raw_head))
            return text_response(500, "internal server error (the server log has the details)")

    def drain_and_keep_open(self, request: Request) -> bool:
        """Whether another request may follow this one on the connection."""
        if not request.wants_keep_alive:
            self.close_reason = (
                "HTTP/1.0 client without Connection: keep-alive"
                if request.version == "HTTP/1.0"
                else "the client asked to close (Connection: close)"
            )
            return False
        if self.stopping.on:
            self.close_reason = "server shutting down"
            return False
        if self.evicted:
            self.close_reason = "closed to make room for a new connection (--max-connections)"
            return False
        if not self.finish_body(request):
            self.close_reason = (
                "request body left unread (not invited with 100 Continue, too large to drop, or malformed)"
            )
            return False
        return True

    def read_unread_chunked_body(self, request: Request, response: Response) -> None:
        """Read what the handler left of a chunked body (up to `max_discarded_body`) before
        its answer goes out, as nginx discards a body before answering: a framing error in
        it (a chunk-size line over `max_chunk_line`, chunk data without its CRLF) is then
        answered with its own 400 instead of a 200 followed by a closed connection. A body
        with Content-Length cannot be malformed, only short; what the handler left of it
        is read and dropped by `finish_body` (through `drain_and_keep_open`) before the answer
        goes out, so a short one holds the answer back until the rest arrives, the client
        closes (no answer), or the body's time limit answers 408."""
        body = request.body
        if body.finished or body.awaiting_continue or body.declared_length is not None:
            return
        try:
            body.discard(self.settings.limits.max_discarded_body)
        except ProtocolError:
            response.release()
            raise

    def finish_body(self, request: Request) -> bool:
        """Consume what the handler left of the request body, so that the next request
        starts at the front of the buffer. False when that cannot be done: the body was
        never sent (100-continue not given), is too large to be worth reading just to
        drop, or is malformed."""
        body = request.body
        if body.finished:
            return True
        if body.awaiting_continue:
            return False
        try:
            return body.discard(self.settings.limits.max_discarded_body)
        except ProtocolError:
            return False

    def refuse(self, request: Request | None, error: ProtocolError) -> None:
        """Answer a request the parser refused with its status and reason. The connection
        then closes: after a framing error we cannot know where the next request starts."""
        started = time.perf_counter()
        head = request.raw_head if request is not None else bytes(self.buffer)
        client = request.client if request is not None and request.client else self.client
        self.close_reason = f"refused with {error.status}: {error.reason}"
        response = text_response(error.status, error.reason, error.headers)
        size = self.send(response, request, keep_open=False)
        log_access(client, head, error.status, size, started)
        self.client_may_be_sending = True

    # HTTPS --------------------------------------------------------------------------------

    def start_tls(self) -> bool:
        """The TLS handshake, in this connection's thread and under its own timeout (a
        client that connects and sends nothing holds only this thread); whether requests
        may follow. A failed handshake costs one debug line; plain HTTP sent to this port
        gets a plain-text 400 (`refuse_plain_http`). Until the handshake is done the
        connection counts as idle: no request has begun that shutdown could cut off."""
        self.idle_since = time.monotonic()
        try:
            if not self.handshake():
                self.refuse_plain_http()
                return False
        except OSError as error:  # ssl.SSLError and TimeoutError are OSErrors
            reason = getattr(error, "reason", None) or error
            self.close_reason = f"TLS handshake failed: {reason}"
            log.debug("TLS handshake with %s failed: %s", self.client, reason)
            return False
        finally:
            self.idle_since = None
        self.encrypted = True
        self.note_tls(self.sock.version() or "", (self.sock.cipher() or ("",))[0])
        return True

    def handshake(self) -> bool:
        """Wrap the socket in TLS and run the handshake, within --tls-handshake-timeout in
        all; False, with nothing read, when the client speaks plain HTTP instead."""
        deadline = time.monotonic() + self.settings.timeouts.tls_handshake_timeout
        self._timeouts = {}  # the handshake's timeout will be in force: set the next one anew
        self.sock.settimeout(self.settings.timeouts.tls_handshake_timeout)
        if not tls.sends_tls(self.sock):
            return False
        # Wrapping does no I/O; do_handshake() waits until the deadline at most in all.
        self.sock = self.tls_context.wrap_socket(self.sock, server_side=True, do_handshake_on_connect=False)
        self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
        self.sock.do_handshake()
        return True

    def note_tls(self, version: str, cipher: str) -> None:
        """A TLS handshake succeeded: one debug line. (A hook: `--trace` shows it.)"""
        log.debug("TLS with %s: %s, %s", self.client, version, cipher)

    def refuse_plain_http(self) -> None:
        """Answer plain HTTP sent to the HTTPS port with a plain-text 400 that says so, as
        nginx does (its page 497), and close; logged like any refused request."""
        self.buffer += self.sock.recv(self.settings.limits.head_recv_size)
        log.debug("plain HTTP from %s on the HTTPS port", self.client)
        self.refuse(None, ProtocolError(400, tls.PLAIN_HTTP_REASON))

    # Receiving ----------------------------------------------------------------------------

    def receive_request(self) -> Request | None:
        """The next request, or None when the client closed the connection (or left it
        idle too long) between requests. The wait for a request's first bytes is written
        out here, not in `receive_head_bytes`: it is the hot path (issue 20)."""
        header_deadline: float | None = None
        limits = self.settings.limits
        while True:
            if self.buffer:
                request = parse_request(self, limits)
                if request is not None:
                    return request
            if self.buffer:  # a request has begun: its head must be whole in time
                if header_deadline is None:
                    header_deadline = time.monotonic() + self.settings.timeouts.header_timeout
                    # A head longer than the idle recv() is mostly here already: take it
                    # without a wait, so without setting a receive timeout for it.
                    if data := self.receive_waiting_bytes(limits.head_recv_size):
                        self.buffer += data
                        continue
                self.buffer += self.receive_head_bytes(header_deadline)
                continue
            # Between requests (parse_request drops stray CRLFs): wait for the next one.
            if self.stopping.on:
                self.close_reason = "server shutting down"
                return None
            data = self.wait_for_request(limits.idle_recv_size)
            if data is None:
                return None
            if not data:
                self.note_idle_close()
                return None
            if len(data) == limits.idle_recv_size:  # a long head: the rest is mostly here
                data += self.receive_waiting_bytes(limits.head_recv_size) or b""
            self.buffer += data

    def wait_for_request(self, size: int) -> bytes | None:
        """The first bytes of the next request (b"" when the client closed), or None
        after the idle timeout. The receive timeout in force is kept if it is shorter (a
        body's wait set it): the rest of the idle time is waited after it expires, so a
        keep-alive request with a body costs no setsockopt() (issue 20)."""
        timeout = self.idle_timeout()
        current = self._timeouts.get(socket.SO_RCVTIMEO)
        wait = current if current is not None and current < timeout else timeout
        if wait != current:
            self.set_timeout(socket.SO_RCVTIMEO, wait)
        self.idle_since = time.monotonic()
        try:
            while True:
                try:
                    return self.sock.recv(size)
                except (BlockingIOError, TimeoutError):  # SO_RCVTIMEO (TLS: the socket's timeout)
                    timeout -= wait
                    if timeout <= 0:
                        self.close_reason = f"idle timeout: no request for {self.idle_timeout():g}s"
                        return None
                    wait = min(wait, timeout)
                    self.set_timeout(socket.SO_RCVTIMEO, wait)
        except OSError as error:
            raise ClientDisconnected(f"while waiting for a request: {error}") from None
        finally:
            self.idle_since = None

    def note_idle_close(self) -> None:
        """The client closed between requests, or `wake()` or `evict()` ended the wait:
        say which."""
        if self.stopping.on:
            self.close_reason = "server shutting down"
        elif self.evicted:
            self.close_reason = "closed to make room for a new connection (--max-connections)"

    def receive_waiting_bytes(self, size: int) -> bytes | None:
        """Bytes the kernel holds for us already, without waiting (b"" if the client has
        closed); None when there are none (or over TLS, whose records a non-blocking
        read does not fit)."""
        if self.tls_context is not None:
            return None
        try:
            data = self.sock.recv(size, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return None
        except OSError as error:
            raise ClientDisconnected(f"while waiting for a request: {error}") from None
        return data  # b"": the client has closed

    def receive_head_bytes(self, header_deadline: float) -> bytes:
        """The next bytes of a request head that has begun, before `header_deadline`."""
        timeout = header_deadline - time.monotonic()
        if timeout <= 0:
            raise ProtocolError(408, "request headers not received in time")
        try:
            data = self.recv(timeout, self.settings.limits.head_recv_size)
        except TimeoutError:
            raise ProtocolError(408, "request headers not received in time") from None
        except OSError as error:
            raise ClientDisconnected(f"while waiting for a request: {error}") from None
        if not data:
            raise ClientDisconnected("closed in the middle of the request headers")
        return data

    def idle_timeout(self) -> float:
        """How long to wait for the next request: shorter while the server is crowded, so
        idle clients cannot hoard the connection slots."""
        timeouts = self.settings.timeouts
        if self.crowded.on:
            return min(timeouts.crowded_idle_timeout, timeouts.idle_timeout)
        return timeouts.idle_timeout

    @property
    def idle(self) -> bool:
        return self.idle_since is not None

    def receive_more(self) -> None:
        """`bodies.ByteSource`: append the next bytes of a request body to the buffer. Every
        body byte comes through here (Content-Length or chunked, read by a handler or
        dropped), so both of its time limits are enforced here, and only here."""
        timeout, reason = self.body_wait()
        while True:
            # The receive timeout in force (the idle one, mostly) if it is no longer than
            # this wait: waiting it out, then the rest, costs a setsockopt() only when the
            # body stalls, not two on every request with a body (issue 20).
            current = self._timeouts.get(socket.SO_RCVTIMEO)
            wait = current if current is not None and current < timeout else timeout
            try:
                data = self.recv(wait, self.settings.limits.body_recv_size)
                break
            except TimeoutError:
                if wait >= timeout:
                    raise ProtocolError(408, reason) from None
                timeout -= wait
            except OSError as error:
                raise ClientDisconnected(f"while reading the body: {error}") from None
        if not data:
            raise ClientDisconnected("closed in the middle of the request body")
        self.body_bytes += len(data)
        self.buffer += data

    def body_wait(self) -> tuple[float, str]:
        """How long the next body recv() may wait, and the 408's reason if nothing comes by
        then: the stall timeout (--body-timeout), or less if the body's average rate would
        fall under --min-body-rate first. With `received` bytes in since `start`, the
        average is under `rate` from start + max(grace, received / rate) on: the body is cut
        off then (to the next whole second), whether a byte is arriving or not."""
        timeouts = self.settings.timeouts
        stalled = (timeouts.body_timeout, "request body stalled")
        if not timeouts.min_body_rate:
            return stalled
        now = time.monotonic()
        if self.body_started is None:
            self.body_started, self.body_bytes = now, 0
        deadline = self.body_started + max(timeouts.body_rate_grace, self.body_bytes / timeouts.min_body_rate)
        if deadline - now >= timeouts.body_timeout:
            return stalled
        too_slow = f"request body slower than {timeouts.min_body_rate} bytes/s (--min-body-rate)"
        if deadline <= now:
            raise ProtocolError(408, too_slow)
        # Whole seconds (the cut-off is under a second late at most): the next recv() of a
        # fast body mostly waits the same time as the last, so no setsockopt() for it.
        return math.ceil(deadline - now), too_slow

    def send_continue(self) -> None:
        """`bodies.ByteSource`: invite the client to send the body (RFC 9110 §15.2.1).
        (A hook: `--trace` shows it.)"""
        self.sendall(CONTINUE_RESPONSE)

    def recv(self, timeout: float, size: int) -> bytes:
        self.set_timeout(socket.SO_RCVTIMEO, timeout)
        try:
            return self.sock.recv(size)
        except BlockingIOError:  # what a blocking socket raises when SO_RCVTIMEO expires
            raise TimeoutError("receive timed out") from None

    def set_timeout(self, option: int, seconds: float) -> None:
        """Make the next recv() (`SO_RCVTIMEO`) or send (`SO_SNDTIMEO`) wait `seconds` at
        most. Plain TCP: the socket stays blocking and the kernel enforces the timeout:
        Python's settimeout() would turn every recv() and sendall() into a poll() plus the
        call. Over TLS that cannot work (the ssl module retries a read or write that the
        kernel timed out, for ever), so settimeout() it is, one value for both directions.
        Either way a value is set only when it changes (a system call)."""
        if self._timeouts.get(option) == seconds:
            return
        if self.tls_context is None:
            set_kernel_timeout(self.sock, option, seconds)
            self._timeouts[option] = seconds
        else:
            self.sock.settimeout(seconds)
            self._timeouts = {option: seconds}

    # Sending ------------------------------------------------------------------------------

    # The head of a response (`framing.response_head`). A hook: `TracedConnection` replaces
    # it with a method that also keeps the bytes; here it is the function itself, so the
    # plain connection pays no extra call for it.
    build_response_head = staticmethod(response_head)

    def send(self, response: Response, request: Request | None, keep_open: bool) -> int:
        """Frame and send the response: head and body in one `sendall`, or the head and
        then the file (`send_file`). Returns the number of body bytes sent."""
        if self.decorated:
            admission.add_response_headers(response, request, self.settings)
        head = self.build_response_head(response, request, keep_open, sends_date(request, self.settings.date))
        body = response.body
        if type(body) is bytes:  # the common answer: head and body in one send
            status = response.status
            if status < 200 or status == 204 or status == 304 or (request is not None and request.method == "HEAD"):
                body = b""  # RFC 9110 §6.4.1, §9.3.2: no content on the wire
            write_timeout = self.settings.timeouts.write_timeout
            if self._timeouts.get(socket.SO_SNDTIMEO) != write_timeout:
                self.set_timeout(socket.SO_SNDTIMEO, write_timeout)
            self.sock.sendall(head + body)
            return len(body)
        if not sends_body(response, request):
            response.release()
            self.sendall(head)
            return 0
        if isinstance(body, FileBody):
            with body.file:
                self.sendall(head)
                return self.send_file(body) if self.tls_context is None else self.copy_file(body)
        if isinstance(body, StreamBody):
            try:
                self.sendall(head)
                return self.send_stream(body, request)
            finally:
                body.close()
        self.sendall(head + body)
        return len(body)

    def sendall(self, data: bytes | memoryview) -> None:
        """Send all of `data`, each piece accepted within the write timeout."""
        self.set_timeout(socket.SO_SNDTIMEO, self.settings.timeouts.write_timeout)
        self.sock.sendall(data)

    def send_stream(self, body: StreamBody, request: Request | None) -> int:
        """Send a body of unknown length as it is made, framed by `framed_pieces()`
        (chunked, or close-delimited for HTTP/1.0): memory holds one piece at a time.
        If making it fails half-way, the head is long gone: the only honest signal left
        is to end the connection without the last chunk (RFC 9112 §7.1), so the client
        sees an incomplete body rather than a short one."""
        sent = 0
        pieces = framed_pieces(body, request)
        while True:
            try:
                piece = next(pieces, None)
            except Exception as error:
                log.exception("response body failed after %d bytes", sent)
                raise ConnectionAbortedError(f"response body failed: {error}") from None
            if piece is None:
                return sent
            self.sendall(piece)  # a client gone mid-body: OSError, the loop ends
            sent += len(piece)

    def send_file(self, body: FileBody) -> int:  # a hook: `--trace` says how a file went out
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
                raise file_shrank(body, offset - body.offset)
            offset += sent
        return body.length

    def copy_file(self, body: FileBody) -> int:
        """Send a stretch of a file over TLS, where os.sendfile cannot be used (the ssl
        module must encrypt the bytes): read it into one fixed buffer and send that, piece
        by piece, so memory stays flat whatever the file's size (and a small file costs
        no more than its size)."""
        buffer = memoryview(bytearray(min(self.settings.limits.tls_file_buffer, body.length)))
        done = 0
        while done < body.length:
            piece = buffer[: min(len(buffer), body.length - done)]
            read = os.preadv(body.file.fileno(), [piece], body.offset + done)
            if read == 0:
                raise file_shrank(body, done)
            self.sendall(piece[:read])
            done += read
        return body.length

    # Closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the socket. If the client may still be sending, first half-close and read
        what comes for a moment: closing a socket with unread data makes the kernel send
        RST, which can destroy our response before the client has read it (RFC 9112 §9.6).
        (A hook: `--trace` shows why the connection ended.)"""
        try:
            if self.encrypted:
                tls.send_close_notify(self.sock)
            # Over TLS, shutdown() also drops the TLS layer: what follows reads raw bytes.
            if self.client_may_be_sending:
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

    def wake(self) -> None:
        """From another thread: make this connection's blocked recv() return b"" at once
        (shutdown closes idle connections this way, and cuts off the rest)."""
        # An idle TLS connection stops reading only: its thread can then still send the
        # close_notify alert as it closes (sending it from here would race that thread's
        # use of the TLS session).
        how = socket.SHUT_RD if self.idle and self.encrypted else socket.SHUT_RDWR
        try:
            # The socket's own shutdown, not ssl.SSLSocket's, which would also drop the
            # TLS layer under the feet of this connection's thread.
            socket.socket.shutdown(self.sock, how)
        except OSError:
            pass

    def evict(self) -> None:
        """From the accept loop, at --max-connections: close this idle connection to make
        room for a new client. Shutting down the read side makes the blocked recv() return
        b"", and the connection closes the way an idle timeout closes it (a FIN, never half
        a response). If a request raced in, it was already in the kernel's buffer: recv()
        still returns it, it is answered with `Connection: close`, and then the connection
        ends (`evicted`), as nginx does when it reuses idle keep-alive connections."""
        self.evicted = True
        try:
            # The socket's own shutdown, as in wake(): not ssl.SSLSocket's.
            socket.socket.shutdown(self.sock, socket.SHUT_RD)
        except OSError:
            pass


def file_shrank(body: FileBody, sent: int) -> ConnectionAbortedError:
    """The file shrank while we sent it: the Content-Length we promised cannot be kept, so
    the connection must end here (RFC 9112 §6.3)."""
    return ConnectionAbortedError(f"file ended after {sent} of {body.length} bytes")


def set_kernel_timeout(sock: socket.socket, option: int, seconds: float) -> None:
    """Set SO_RCVTIMEO or SO_SNDTIMEO: a blocking recv() or send() on the socket fails
    with EAGAIN after waiting `seconds` with no byte moved. (The kernel reads 0 as "no
    timeout", hence at least one microsecond.)"""
    whole = int(seconds)
    microseconds = max(int((seconds - whole) * 1_000_000), 0 if whole else 1)
    sock.setsockopt(socket.SOL_SOCKET, option, struct.pack("@ll", whole, microseconds))
