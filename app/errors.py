"""The errors that refuse a request (RFC 9110 §15.5, §15.6): `HTTPError` (an answer with
a status and a one-line reason; the connection stays open), `ProtocolError` (a framing
error: answer, then close) and `ClientDisconnected` (the client went away mid-request).
Every module that refuses something raises one of these; `connection.py` answers them."""

from __future__ import annotations

class HTTPError(Exception):
    """A request answered with an error `status` and a one-line `reason` as its body,
    e.g. a handler's 404. The connection stays open."""

    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.headers = headers or []


class ProtocolError(HTTPError):
    """A request whose framing we must refuse. The connection answers, then closes:
    after a framing error the position of the next request in the byte stream can no
    longer be trusted."""


class ClientDisconnected(Exception):
    """The client closed or reset the connection before the request was complete."""
