"""One connection, from its first byte to its close, in the thread the server started
for it: receiving request heads into a buffer, the keep-alive loop (`Connection.serve()`,
one `exchange()` per request), dispatching to the handlers, sending (`sendall`, or
`os.sendfile` for files), the lingering close, and the access line.

Read it top to bottom; the README's "The life of a request" follows one request through it.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import time

from app import handlers
from app.accesslog import log_access, request_line_for_log
from app.forwarded import client_address
from app.http import (
    CONTINUE_RESPONSE,
    ClientDisconnected,
    FileBody,
    ProtocolError,
    Request,
    Response,
    parse_request,
    response_head,
    sends_body,
    text_response,
)
from app.settings import Settings

log = logging.getLogger("app")


class Connection:
    """One client socket and its receive buffer; also the `http.Transport` through which
    a request body asks for more bytes."""

    def __init__(self, sock: socket.socket, client: str, settings: Settings, stopping: threading.Event) -> None:
        self.sock = sock
        self.client = client
        self.settings = settings
        self.stopping = stopping
        self.buffer = bytearray()
        # True while waiting for the first byte of a request: the only moment at which
        # shutdown may close the connection without cutting a request off.
        self.idle = False
        # Set when the connection ends while the client may still be sending (an unread
        # body, a refused request): `close()` then lingers (RFC 9112 §9.6).
        self.client_may_be_sending = False
        # The socket stays in blocking mode and the kernel enforces our timeouts
        # (SO_RCVTIMEO, SO_SNDTIMEO): Python's settimeout() would turn every recv() and
        # sendall() into a poll() plus the call, and every change of value into an ioctl().
        set_kernel_timeout(sock, socket.SO_SNDTIMEO, settings.timeouts.write_timeout)
        self._receive_timeout: float | None = None

    # The keep-alive loop ------------------------------------------------------------------

    def serve(self) -> None:
        """Serve requests until either side ends the connection; then close it."""
        log.debug("connection opened from %s", self.client)
        try:
            while self.exchange():
                pass
        except ClientDisconnected as error:
            log.debug("client %s disconnected %s", self.client, error)
        except OSError as error:  # a send failed: reset, broken pipe, write timeout
            log.debug("connection to %s lost: %s", self.client, error)
        except Exception:
            log.exception("unexpected error on the connection to %s", self.client)
        finally:
            self.close()
            log.debug("connection closed to %s", self.client)

    def exchange(self) -> bool:
        """Receive one request and answer it; whether the connection goes on."""
        request: Request | None = None
        try:
            request = self.receive_request()
            if request is None:
                return False
            started = time.perf_counter()
            request.client = client_address(self.client, request.headers, self.settings.forwarded_allow_ips)
            response = self.respond(request)
            keep_open = self.keep_open_after(request)
            size = self.send(response, request, keep_open)
            log_access(request.client, request.raw_head, response.status, size, started)
            if not keep_open:
                self.client_may_be_sending = not request.body.finished or bool(self.buffer)
            return keep_open
        except ProtocolError as error:
            self.refuse(request, error)
            return False

    def respond(self, request: Request) -> Response:
        """The handler's response; a 500 if the handler failed."""
        try:
            return handlers.dispatch(request, self.settings)
        except (ProtocolError, ClientDisconnected):
            raise  # about the request or the client, not a bug: `exchange` handles them
        except Exception:
            log.exception("handler failed for %s", request_line_for_log(request.raw_head))
            return text_response(500, "internal server error (the server log has the details)")

    def keep_open_after(self, request: Request) -> bool:
        """Whether another request may follow this one on the connection."""
        if not request.wants_keep_alive or self.stopping.is_set():
            return False
        return self.finish_body(request)

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
        response = text_response(error.status, error.reason, error.headers)
        size = self.send(response, request, keep_open=False)
        log_access(client, head, error.status, size, started)
        self.client_may_be_sending = True

    # Receiving ----------------------------------------------------------------------------

    def receive_request(self) -> Request | None:
        """The next request, or None when the client closed the connection (or left it
        idle too long) between requests."""
        header_deadline: float | None = None
        while True:
            if self.buffer:
                request = parse_request(self, self.settings.limits)
                if request is not None:
                    return request
            if not self.buffer:  # between requests (parse_request drops stray CRLFs)
                if self.stopping.is_set():
                    return None
                data = self.receive_head_bytes(header_deadline=None)
            else:  # a request has begun: its head must be whole in time
                if header_deadline is None:
                    header_deadline = time.monotonic() + self.settings.timeouts.header_timeout
                data = self.receive_head_bytes(header_deadline)
            if not data:
                return None
            self.buffer += data

    def receive_head_bytes(self, header_deadline: float | None) -> bytes:
        """The next bytes of a request head; b"" when the client closed, or stayed idle
        past the idle timeout, between requests (`header_deadline` None)."""
        if header_deadline is None:
            timeout = self.settings.timeouts.idle_timeout
            self.idle = True
        else:
            timeout = header_deadline - time.monotonic()
            if timeout <= 0:
                raise ProtocolError(408, "request headers not received in time")
        try:
            data = self.recv(timeout, self.settings.limits.head_recv_size)
        except TimeoutError:
            if header_deadline is None:
                return b""  # an idle keep-alive connection: close quietly
            raise ProtocolError(408, "request headers not received in time") from None
        except OSError as error:
            raise ClientDisconnected(f"while waiting for a request: {error}") from None
        finally:
            self.idle = False
        if not data and header_deadline is not None:
            raise ClientDisconnected("closed in the middle of the request headers")
        return data

    def receive_more(self) -> None:
        """`http.Transport`: append the next bytes of a request body to the buffer."""
        try:
            data = self.recv(self.settings.timeouts.body_timeout, self.settings.limits.body_recv_size)
        except TimeoutError:
            raise ProtocolError(408, "request body stalled") from None
        except OSError as error:
            raise ClientDisconnected(f"while reading the body: {error}") from None
        if not data:
            raise ClientDisconnected("closed in the middle of the request body")
        self.buffer += data

    def send_continue(self) -> None:
        """`http.Transport`: invite the client to send the body (RFC 9110 §15.2.1)."""
        self.sock.sendall(CONTINUE_RESPONSE)

    def recv(self, timeout: float, size: int) -> bytes:
        if timeout != self._receive_timeout:  # a system call: skip it when we can
            set_kernel_timeout(self.sock, socket.SO_RCVTIMEO, timeout)
            self._receive_timeout = timeout
        try:
            return self.sock.recv(size)
        except BlockingIOError:  # what a blocking socket raises when SO_RCVTIMEO expires
            raise TimeoutError("receive timed out") from None

    # Sending ------------------------------------------------------------------------------

    def send(self, response: Response, request: Request | None, keep_open: bool) -> int:
        """Frame and send the response: head and body in one `sendall`, or the head and
        then the file (`send_file`). Returns the number of body bytes sent."""
        head = response_head(response, request, keep_open, self.settings.date)
        body = response.body
        if not sends_body(response, request):
            response.release()
            self.sock.sendall(head)
            return 0
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

    # Closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the socket. If the client may still be sending, first half-close and read
        what comes for a moment: closing a socket with unread data makes the kernel send
        RST, which can destroy our response before the client has read it (RFC 9112 §9.6)."""
        try:
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
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def set_kernel_timeout(sock: socket.socket, option: int, seconds: float) -> None:
    """Set SO_RCVTIMEO or SO_SNDTIMEO: a blocking recv() or send() on the socket fails
    with EAGAIN after waiting `seconds` with no byte moved. (The kernel reads 0 as "no
    timeout", hence at least one microsecond.)"""
    whole = int(seconds)
    microseconds = max(int((seconds - whole) * 1_000_000), 0 if whole else 1)
    sock.setsockopt(socket.SOL_SOCKET, option, struct.pack("@ll", whole, microseconds))
