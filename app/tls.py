"""HTTPS: the TLS context made from `--tls-cert`, `--tls-key` and `--tls-password-file`,
and what a TLS connection needs that a plain one does not.

- `option_problem()`: the flags that only make sense together (an argparse-style error).
- `server_context()`: the `ssl.SSLContext`, built once at start-up; a bad certificate,
  key or password is a `TLSSetupError` with a one-line message (`main.py` prints it).
- `sends_tls()`: whether a new connection starts with a TLS record, or is plain HTTP
  sent to the HTTPS port (which `Connection.start_tls()` answers with a plain-text 400).
- `send_close_notify()`: the closure alert a TLS peer sends before closing.

The handshake itself runs in the connection's own thread (`Connection.start_tls()`), so a
client that connects and never handshakes holds only its thread, for
`--tls-handshake-timeout` seconds at most.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from app.request import TLS_HANDSHAKE_RECORD
from app.settings import Settings

if TYPE_CHECKING:  # for annotations; see server_context() for why `ssl` is imported late
    import ssl

# What plain HTTP sent to the HTTPS port gets (nginx answers it with its page 497).
PLAIN_HTTP_REASON = "this port speaks HTTPS: the plain HTTP request was sent to an HTTPS port; use https://"


class TLSSetupError(Exception):
    """The certificate, key or password cannot be used; the message is one line."""


def option_problem(settings: Settings) -> str | None:
    """What is wrong with the combination of TLS flags, as argparse would say it."""
    if settings.tls_cert is not None and settings.tls_key is None:
        return "--tls-cert needs --tls-key (the certificate's private key)"
    if settings.tls_key is not None and settings.tls_cert is None:
        return "--tls-key needs --tls-cert (the certificate of the key)"
    if settings.tls_password_file is not None and settings.tls_key is None:
        return "--tls-password-file needs --tls-cert and --tls-key"
    return None


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for HTTPS, or None without `--tls-cert` (plain HTTP)."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    # Imported here, once at start-up and only for HTTPS: `ssl` maps libssl and libcrypto,
    # ~6 MiB of RSS that a plain-HTTP server would carry for nothing (docs/performance.md).
    import ssl

    # The ssl module's secure defaults for a server: no SSLv3, no compression, strong
    # ciphers, OpenSSL's security level; TLS 1.0 and 1.1 are refused too (RFC 8996).
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # RFC 7301: offer only HTTP/1.1, so a client that would prefer h2 knows what it gets.
    context.set_alpn_protocols(["http/1.1"])
    # A client that closes without TLS's close_notify alert is a plain end of the
    # connection to us: a cut-off request is caught by its framing (RFC 9112 §9.8).
    # Otherwise OpenSSL 3 answers it with a decode_error alert, and its session is left
    # unable to send our own close_notify (e.g. at shutdown, after wake()).
    context.options |= getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)  # OpenSSL 3.0+
    load_certificate(context, settings.tls_cert, settings.tls_key, settings.tls_password_file)
    return context


def load_certificate(context: ssl.SSLContext, cert: Path, key: Path, password_file: Path | None) -> None:
    import ssl  # already loaded by server_context(), the only caller (see there why it is late)

    check_pem(cert, "CERTIFICATE", "--tls-cert")
    # RFC 7468 §11 and OpenSSL's older Proc-Type: 4,ENCRYPTED both say ENCRYPTED.
    encrypted = b"ENCRYPTED" in check_pem(key, "PRIVATE KEY", "--tls-key")
    password = key_password_from_file(password_file) if password_file else no_password(key)
    try:
        context.load_cert_chain(cert, key, password)
    except ssl.SSLError as error:
        raise TLSSetupError(describe_load_error(error, cert, key, encrypted)) from None
    except OSError as error:
        raise TLSSetupError(f"cannot read the certificate or key: {error.strerror}") from None


def check_pem(path: Path, label: str, flag: str) -> bytes:
    """A PEM file of the expected kind (RFC 7468 labels: `-----BEGIN CERTIFICATE-----`,
    `-----BEGIN [ENCRYPTED|RSA|EC] PRIVATE KEY-----`): OpenSSL's own error for anything
    else is only "PEM lib"."""
    try:
        text = path.read_bytes()
    except OSError as error:
        raise TLSSetupError(f"cannot read {flag} {path}: {error.strerror}") from None
    if f"{label}-----".encode() not in text or b"-----BEGIN " not in text:
        raise TLSSetupError(f"{flag} {path} holds no PEM {label.lower()}")
    return text


def key_password_from_file(path: Path) -> bytes:
    """The password: the first line of the file (without its line end)."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError as error:
        raise TLSSetupError(f"cannot read --tls-password-file {path}: {error.strerror}") from None
    return lines[0] if lines else b""


def no_password(key: Path) -> Callable[[], bytes]:
    """The password callback without `--tls-password-file`: OpenSSL would otherwise ask
    for an encrypted key's password on the terminal, and wait."""

    def refuse() -> bytes:
        raise TLSSetupError(f"--tls-key {key} is encrypted: give its password with --tls-password-file FILE")

    return refuse


def describe_load_error(error: ssl.SSLError, cert: Path, key: Path, encrypted: bool) -> str:
    """One line for what OpenSSL found wrong in the certificate or key (OpenSSL says only
    "PEM lib" for a wrong password)."""
    if error.reason == "KEY_VALUES_MISMATCH":
        return f"--tls-key {key} is not the private key of the certificate in --tls-cert {cert}"
    if encrypted:
        return f"cannot decrypt --tls-key {key}: wrong password in --tls-password-file"
    return f"cannot load --tls-cert {cert} with --tls-key {key}: {error.reason or error}"


def sends_tls(sock: socket.socket) -> bool:
    """Whether the client's first byte starts a TLS handshake record (it is peeked at, not
    read). Raises `TimeoutError` when nothing comes in time, `ConnectionError` on EOF."""
    first = sock.recv(1, socket.MSG_PEEK)
    if not first:
        raise ConnectionAbortedError("closed before the TLS handshake")
    return first == TLS_HANDSHAKE_RECORD


def send_close_notify(sock: ssl.SSLSocket) -> None:
    """RFC 9112 §9.8 / RFC 8446 §6.1: send the close_notify alert before closing, without
    waiting for the client's (the socket is made non-blocking: `unwrap()` sends ours,
    then gives up at once if the client's has not arrived)."""
    try:
        sock.setblocking(False)
        sock.unwrap()
    except (OSError, ValueError):
        pass  # the client's alert has not come, or the connection is gone: nothing to wait for
