"""Every tunable of the server in one place: limits, timeouts and launch options.

Each setting is declared once, here, as a dataclass field. A field made with `option()`
is also a command-line flag: its name with dashes (`max_upload` is `--max-upload`), its
help text and its parser sit in the field's metadata, and `main.py` builds the command
line from these fields alone. Adding a limit is therefore one edit: a field in `Limits`
with `option(...)`, then reading it where it applies.

`main.py` builds one `Settings` and hands it to the server (`server.py`), each connection
(`connection.py`), the parser (`http.py`, which sees only `Limits`) and the handlers.
"""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.accessrules import Rule, parse_rule
from app.cors import cors_origin
from app.extraheaders import SERVER_NAME, header_line, server_name
from app.passwords import Account, auth_file, auth_option

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


# ---------------------------------------------------------------------------------------
# What a valid value of an option is (used by the command line, raising argparse's error)
# ---------------------------------------------------------------------------------------


def positive_int(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) == 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number")
    return int(value)


def byte_count(value: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise argparse.ArgumentTypeError(f"{value} is not a number of bytes")
    return int(value)


def positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of seconds")
    return seconds


def existing_directory(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is not a directory")
    return path


def existing_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{value} is not a file")
    return path


def allow_option(value: str) -> Rule:
    """`--allow PATH:USER=RIGHTS` (accessrules.py)."""
    try:
        return parse_rule(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def site_directory(value: str) -> Path | None:
    """`--www DIR`; an empty value means no site at all."""
    return existing_directory(value) if value else None


def networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """`--forwarded-allow-ips 127.0.0.1,10.0.0.0/8`: addresses or CIDR blocks, commas between."""
    try:
        return tuple(ipaddress.ip_network(item.strip()) for item in value.split(","))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{value} is not a list of addresses or CIDR blocks: {error}") from None


def option(
    default: Any,
    help: str,
    parse: Callable[[str], Any] | None = None,
    metavar: str | None = None,
    *,
    repeat: bool = False,
    bare: Any = None,
    short: str | None = None,
) -> Any:
    """A setting that is also a command-line flag. `parse` turns the flag's text into the
    value (None for a boolean switch); `help` may use `%(default)s`. With `repeat`, the
    flag may be given again and again and the setting is the tuple of its values; with
    `bare`, the flag may be given without a value, meaning `bare`; `short` is a one-letter
    alias such as "-H"."""
    metadata = {"help": help, "parse": parse, "metavar": metavar, "repeat": repeat, "bare": bare, "short": short}
    return field(default=default, metadata=metadata)


# The shipped site (www/index.html), served when --www is not given.
SHIPPED_SITE = Path(__file__).resolve().parent.parent / "www"


# ---------------------------------------------------------------------------------------
# The settings
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Sizes the server enforces; each one maps to the status it answers when exceeded."""

    # RFC 9112 §3: "servers ought to be prepared to receive request lines of 8000 octets".
    max_request_line: int = option(8 * KiB, "longest request line in bytes; 414 beyond", positive_int, "N")
    # The whole header section (request line included) and its field count.
    max_header_bytes: int = option(64 * KiB, "largest header section in bytes; 431 beyond", positive_int, "N")
    max_header_fields: int = option(100, "most header fields; 431 beyond", positive_int, "N")
    # Bodies a handler holds in memory whole (e.g. `/echo` reflecting the request).
    max_body: int = option(1 * MiB, "largest body held in memory (/echo) in bytes; 413 beyond", positive_int, "N")
    # WebDAV request bodies (PROPFIND, PROPPATCH, LOCK) are XML parsed into a tree in memory.
    max_xml_body: int = option(1 * MiB, "largest WebDAV XML request body in bytes; 413 beyond", positive_int, "N")
    # Bodies streamed to disk (uploads), checked before any byte is stored.
    max_upload: int = option(10 * GiB, "refuse uploads larger than this with 413", byte_count, "BYTES")
    # A chunk-size line with its extensions (RFC 9112 §7.1.1); 400 beyond.
    max_chunk_line: int = 4 * KiB
    # What is left of a body the handler did not read, read and dropped to keep the
    # connection; a larger remainder closes the connection instead.
    max_discarded_body: int = 64 * KiB
    # What one recv() asks for. recv() allocates that much before it blocks, and an idle
    # keep-alive connection spends its life blocked in it: a small size for request heads
    # keeps 1,000 idle connections cheap; bodies are read in large pieces.
    head_recv_size: int = 4 * KiB
    body_recv_size: int = 64 * KiB
    # The recv() an idle keep-alive connection waits in: smaller still, since 1,000 idle
    # connections hold 1,000 of these (issue 20). 479 bytes: with its 33 bytes of header
    # the bytes object recv() allocates is then a block of pymalloc (512 bytes at most),
    # not a chunk in glibc's per-thread arenas: 1.4 KiB less per idle connection than
    # 1 KiB (bench/idle_memory.py). The heads of curl, wrk and scripts fit; a longer one
    # (a browser's, 500-800 bytes) takes a second recv() of `head_recv_size` at once,
    # without a wait (`Connection.receive_request`).
    idle_recv_size: int = 479
    # Files of a compressible type (text, JSON, SVG, ...) up to this size are gzipped for
    # clients that accept it; larger ones are sent with sendfile, uncompressed, since
    # compressing means reading the whole file through Python.
    max_gzip_file: int = 1 * MiB
    # Over TLS, os.sendfile cannot be used (the bytes must be encrypted by the ssl module):
    # files are read into one buffer of this size and sent from it, piece by piece.
    tls_file_buffer: int = 64 * KiB
    # A form field that is not a file (`mkdir`, a submit button's name), and a url-encoded
    # form, are held in memory whole (`uploads.py`); 413 beyond.
    max_form_field: int = 64 * KiB
    # Multipart part headers are few and short (Content-Disposition, Content-Type): caps
    # keep a body that never ends its part headers from growing the buffer (`multipart.py`).
    max_part_header_bytes: int = 16 * KiB
    max_part_header_fields: int = 16
    # Client addresses the login lock-out remembers (`lockout.py`): a flood of addresses
    # cannot grow its tables past this.
    max_lockout_clients: int = 10_000
    # Share links kept in the state database (`sharelinks.py`): someone making links in a
    # loop fills no disk. Ended links (expired, revoked) make room first, oldest first.
    max_share_links: int = option(
        10_000, "most share links kept; making one more when all are in force is 507", positive_int, "N"
    )


@dataclass(frozen=True)
class Timeouts:
    """Go net/http style named timeouts, in seconds."""

    # From the first byte of a request until its header section is complete (slowloris).
    header_timeout: float = option(10.0, "seconds to send a whole request head; 408 after", positive_seconds, "SECONDS")
    # A keep-alive connection waiting for its next request; closed silently.
    idle_timeout: float = option(
        15.0, "seconds a keep-alive connection may wait for its next request", positive_seconds, "SECONDS"
    )
    # The idle timeout while more than half of --max-connections are open, so idle
    # keep-alive clients cannot hoard the slots (at the cap, the idlest are closed).
    crowded_idle_timeout: float = option(
        2.0, "seconds a keep-alive connection may wait while over half the slots are taken", positive_seconds, "SECONDS"
    )
    # The longest wait for the next piece of a request body; 408.
    body_timeout: float = option(
        30.0, "seconds a request body may stall before it is refused", positive_seconds, "SECONDS"
    )
    # The stall timeout alone lets a client send one byte every 29 s and hold a thread for
    # as long as it likes: the body must also arrive at this average rate once the grace
    # period has passed since the server began reading it, or it is cut off with 408 (the
    # partial upload is removed). 500 bytes/s is Apache mod_reqtimeout's default MinRate:
    # 4 kbit/s, slower than any real link, so no real client meets it; 0 turns it off.
    min_body_rate: int = option(
        500, "bytes/s a request body must average after --body-rate-grace; 408 under it (0: off; "
        "default: %(default)s)", byte_count, "BYTES/S"
    )
    # Time for a connection to ramp up (TCP slow start, a client opening its file) before
    # the rate counts; Apache gives 20 s to the first bytes, we give 10 s to the average.
    body_rate_grace: float = option(
        10.0, "seconds a request body is given before --min-body-rate applies (default: %(default)s)",
        positive_seconds, "SECONDS"
    )
    # How long sending a response may wait with the client accepting none of its bytes.
    write_timeout: float = option(
        60.0, "seconds a client may take to accept response bytes", positive_seconds, "SECONDS"
    )
    # From accepting a connection until its TLS handshake is done (HTTPS only): a client
    # that connects and says nothing holds only its own thread, and only this long.
    tls_handshake_timeout: float = option(
        10.0, "seconds a client may take to complete the TLS handshake (HTTPS)", positive_seconds, "SECONDS"
    )
    # The longest a WebDAV lock lasts without a refresh (RFC 4918 §6.6: the server picks
    # the timeout); a LOCK asking for longer, or Infinite, gets this. A client that
    # vanished keeps its files locked no longer than this.
    max_lock_timeout: int = option(
        3600, "longest a WebDAV LOCK lasts without a refresh; longer or Infinite requests get this "
        "(default: %(default)s)", positive_int, "SECONDS"
    )
    # After Ctrl+C / SIGTERM: how long requests in flight may take to finish.
    shutdown_grace: float = 5.0
    # After answering with `Connection: close` while the client may still be sending
    # (an unread body): how long we keep reading, so the kernel sends FIN, not RST,
    # and the client gets to read our answer (RFC 9112 §9.6).
    lingering_close: float = 2.0


@dataclass(frozen=True)
class Settings:
    host: str = option("localhost", "address to listen on (default: %(default)s)", str)
    port: int = option(4221, "port to listen on; 0 picks a free one (default: %(default)s)", int)
    # Where `/files/{name}` reads and writes; None turns the file routes off.
    directory: Path | None = option(
        None,
        "serve GET /files/NAME from this directory, list it at GET /files/, store POST and PUT "
        "/files/NAME uploads in it and remove files on DELETE (without it, the file routes answer "
        "404 and 403)",
        existing_directory,
        "DIR",
    )
    # The static site; None: no site, and `GET /` answers an empty 200.
    www: Path | None = option(
        SHIPPED_SITE if SHIPPED_SITE.is_dir() else None,
        "serve a static site from this directory: GET / answers its index.html, other paths its "
        "files (default: the www/ folder beside the program; --www '' for none, then GET / answers "
        "an empty 200)",
        site_directory,
        "DIR",
    )
    # Listings of folders without an index.html (HTML, or JSON on /files/).
    listing: bool = option(
        True, "list folders without index.html and GET /files/ (--no-listing: answer 404 instead)"
    )
    # RFC 9110 §6.6.1: a Date header on every response. Off by default because the
    # challenge's anti-cheat check rejects a Date header on `GET /`.
    date: bool = option(False, "send Date on GET / and HEAD / too (every other response has it: RFC 9110 section 6.6.1)")
    # Connection threads at most; one more connection is answered 503 with Retry-After
    # and closed, so a flood of sockets cannot exhaust threads or memory.
    max_connections: int = option(1000, "connections served at once; more get 503 (default: %(default)s)", positive_int, "N")
    # Connections the kernel queues before accept(): a burst of 500 clients connecting at
    # once must all get in (the kernel caps it at net.core.somaxconn, 4096 on Linux 5.4+).
    backlog: int = option(1024, "connections the kernel queues before accept() (default: %(default)s)", positive_int, "N")
    # Worker processes sharing the port (SO_REUSEPORT), each a whole thread-per-connection
    # server; 1 means no worker processes at all: the server runs in the launched process.
    workers: int = option(
        1,
        "worker processes sharing the port, one per CPU core to use all of them; each is a whole "
        "thread-per-connection server, a worker that dies is replaced (default: %(default)s: no "
        "worker processes, the server runs in this one)",
        positive_int,
        "N",
    )
    # -- Who may do what: write policy, passwords, LAN addresses, CORS, extra headers --
    # (docs/sharing.md; the order of the checks is in admission.py, the write rule in policy.py)

    # Writes (POST/PUT/DELETE /files/) are on only on a loopback address, unless these say.
    allow_writes: bool = option(False, "let clients change files under --directory from beyond loopback")
    read_only: bool = option(False, "refuse every write (POST, PUT, DELETE) with 403, wherever it listens")
    # Passwords (HTTP Basic, RFC 7617): in memory from the command line, or hashed in a file.
    auth: tuple[Account, ...] = option(
        (), "require this user and password (repeatable; others on this machine see it in ps: prefer "
        "--auth-file)", auth_option, "USER:PASSWORD", repeat=True
    )
    auth_file: tuple[Account, ...] | None = option(
        None, "require a user and password from FILE, one user:hash per line ('python3 -m app.auth hash USER' makes one)",
        auth_file, "FILE"
    )
    auth_writes_only: bool = option(False, "with --auth or --auth-file: reading is open, only writes need a password")
    # The lock-out: `auth_attempts` failed logins from one address within `auth_window`
    # seconds are answered 429 for `auth_lockout` seconds (lockout.py).
    auth_lockout: float = option(
        60.0, "seconds an address that failed to log in 10 times in a minute is refused with 429", positive_seconds, "SECONDS"
    )
    auth_attempts: int = 10
    auth_window: float = 60.0
    # The realm of the challenge (RFC 7617 §2): a name for the protected space.
    auth_realm: str = "files"
    # Rights per folder and user (accessrules.py, applied by permissions.require()).
    allow: tuple[Rule, ...] = option(
        (), "grant USER (or * for everyone, anonymous included) RIGHTS under PATH of --directory: letters "
        "of r read, l list, w write, d delete, or - for none; the deepest folder with a rule for the user "
        "decides (repeatable; docs/permissions.md)", allow_option, "PATH:USER=RIGHTS", repeat=True
    )
    access_file: Path | None = option(
        None, "the same rules as --allow, one a line, read again on SIGHUP", existing_file, "FILE"
    )
    # Listen on every address, IPv6 and IPv4, and print the URLs to share (netaddr.py).
    lan: bool = option(False, "listen on every address (IPv6 and IPv4) and print the URLs to share on the network")
    # A QR code of the URL to share (qr.py: segno, optional, imported only for this).
    qr: bool = option(
        False, "print the URL to share as a QR code in the terminal, and show one on the page of a new share "
        "link (needs the segno package)"
    )
    # Access-Control-Allow-Origin for pages of other origins (cors.py).
    cors: tuple[str, ...] = option(
        (), "let web pages of ORIGIN read the answers (CORS; repeatable; without ORIGIN: any origin, *)",
        cors_origin, "ORIGIN", repeat=True, bare="*"
    )
    # Fields added to every response (extraheaders.py).
    header: tuple[tuple[str, str], ...] = option(
        (), "add this header to every response (repeatable)", header_line, "'NAME: VALUE'", repeat=True, short="-H"
    )
    server_header: str | None = option(
        None,
        f"add 'Server: NAME' to every response (without NAME: {SERVER_NAME})",
        server_name,
        "NAME",
        bare=SERVER_NAME,
    )

    # -- HTTPS --
    # The flags of `python -m http.server` (Python 3.14); app/tls.py makes the context.
    tls_cert: Path | None = option(
        None, "serve HTTPS with this PEM certificate (chain); needs --tls-key", existing_file, "FILE"
    )
    tls_key: Path | None = option(None, "the PEM private key of --tls-cert", existing_file, "FILE")
    tls_password_file: Path | None = option(
        None, "a file whose first line is the password of an encrypted --tls-key", existing_file, "FILE"
    )

    # -- Behind a proxy, under systemd --
    # The proxies (nginx, a load balancer) whose X-Forwarded-For / Forwarded header names
    # the client (`forwarded.py`); from any other peer those headers are ignored.
    forwarded_allow_ips: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = option(
        (),
        "addresses or CIDR blocks of trusted proxies, commas between: from them the client "
        "address (access log, per-client limits) is read from X-Forwarded-For or Forwarded "
        "(default: none trusted, those headers are ignored)",
        networks,
        "CIDR[,CIDR]",
    )

    # -- File sharing: uploads, archives, the listing --
    # Listings show dot files too; never the `.NAME.HOST-PID.RANDOM.part` files of uploads
    # in progress (`storage.is_upload_in_progress`, `partial_uploads.TEMPORARY_NAME_RE`).
    show_hidden: bool = option(
        False, "list dot files and folders too (never the .NAME.*.part files of uploads in progress)"
    )
    # Single-page apps route in the browser: any path under --www that names no file
    # answers the site's index.html (as `try_files $uri /index.html` in nginx).
    spa: bool = option(
        False, "single-page app: a path under --www that matches no file answers the site's index.html (200)"
    )

    # Resumable uploads (tus.py): an upload not completed within this long after its last
    # byte is abandoned: its partial file and its record are removed (tus `expiration`).
    upload_expiry: float = option(
        24 * 3600.0, "seconds an unfinished resumable (tus) upload is kept after its last byte "
        "(default: %(default)s)", positive_seconds, "SECONDS"
    )
    # Each pending upload costs a row and an empty file before any byte: bounded.
    max_pending_uploads: int = option(
        100, "resumable (tus) uploads created and not yet complete, at most; more get 503 "
        "(default: %(default)s)", positive_int, "N"
    )

    # Durable state (state.py): WebDAV properties and locks, tus uploads, share links, the
    # lock-out counts, in one SQLite database. None: the hidden folder .http-server-state
    # under --directory (never served); without --directory either, in memory.
    state_dir: Path | None = option(
        None,
        "keep the server's durable state (WebDAV properties and locks, resumable uploads, share "
        "links, failed logins) in this folder, shared by every process given the same one "
        "(default: DIR/.http-server-state under --directory)",
        Path,
        "DIR",
    )

    # -- Seeing the wire: --trace --

    # Every exchange on stderr (trace.py): heads byte for byte, timings, why a
    # connection closed. Off, the server runs the plain Connection: no trace code at all.
    trace: bool = option(
        False,
        "show every exchange on stderr as it happens: request and response heads exactly as "
        "received and sent (secrets redacted), 100 Continue, timings, why each connection closed",
    )
    trace_body: int = option(
        0,
        "also show the first N bytes of each body both ways, as text or hex (implies --trace; "
        "default: %(default)s)",
        byte_count,
        "N",
    )

    # -- Holding load: access log file, crowded server --

    # Where access lines go: stderr by default (-q: nowhere); a file is reopened on SIGHUP.
    access_log: Path | None = option(
        None, "write the access log to this file (reopened on SIGHUP, for logrotate) instead of stderr", Path, "FILE"
    )

    # The Retry-After (RFC 9110 §10.2.3) sent with the 503 at --max-connections, in seconds.
    retry_after: int = 1
    # Each connection thread's stack. Python code runs on the interpreter's own frames, so
    # a connection needs little C stack; 256 KiB instead of the usual 8 MiB keeps 1,000
    # idle connections at 250 MiB of address space instead of 8 GiB.
    thread_stack_size: int = 256 * KiB
    # A worker that dies is replaced; one that dies sooner than this after its start is
    # replaced only after this delay, so a worker that cannot start does not spin.
    worker_restart_delay: float = 1.0
    limits: Limits = Limits()
    timeouts: Timeouts = Timeouts()

    @property
    def accounts(self) -> tuple[Account, ...]:
        """Everyone who may log in, from --auth and --auth-file; empty: no passwords."""
        return (*self.auth, *(self.auth_file or ()))
