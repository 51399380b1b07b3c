"""Passwords over HTTP: Basic authentication (RFC 7617), and the lock-out that answers 429.

`password_refusal()` is the one check: it answers None when the request may go on, or
the response that stops it:

- `429` with `Retry-After` while the client's address is locked out (`lockout.py`);
- `401` with `WWW-Authenticate: Basic realm="...", charset="UTF-8"` when the request
  carries no credentials, malformed ones, or a wrong user or password (one reason for
  both, so the answer does not say which user names exist).

With `--auth-writes-only`, only methods that may change something need a password.
Neither the password nor the `Authorization` value goes into a response or a log line.

Run as a program, it makes a line for `--auth-file`:

    python3 -m app.auth hash alice >> users.txt     # asks for the password twice
    printf '%s\\n' "$PASSWORD" | python3 -m app.auth hash alice
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
from typing import TYPE_CHECKING

from app.fields import TOKEN_STR
from app.framing import Response, text_response
from app.lockout import Lockout
from app.passwords import Account, hash_line, make_hash, unb64
from app.request import Request
from app.state import state_for

if TYPE_CHECKING:
    from app.settings import Settings

# RFC 9110 §11.6.2 and §11.2:
#   credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
#   token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
# RFC 7617 §2: for Basic, the token68 is the base64 of user-id ":" password.
CREDENTIALS_RE = re.compile(r"(%s) +([-._~+/0-9A-Za-z]+=*)" % TOKEN_STR)

# RFC 9110 §9.2.1: the safe methods; any other may change something on the server.
# PROPFIND only reads (RFC 4918 §9.1: safe and idempotent), so --auth-writes-only lets it through.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PROPFIND"})


def basic_credentials(value: str) -> tuple[str, str] | None:
    """The user and password of an `Authorization: Basic ...` value; None if it is not
    one: another scheme, not strict base64, not UTF-8 (RFC 7617 §2.1: we announce
    charset="UTF-8"), or no colon. The user is what precedes the first colon."""
    match = CREDENTIALS_RE.fullmatch(value)
    if match is None or match.group(1).lower() != "basic":
        return None
    decoded = unb64(match.group(2))
    try:
        user_pass = decoded.decode("utf-8") if decoded is not None else ""
    except UnicodeDecodeError:
        return None
    user, colon, password = user_pass.partition(":")
    return (user, password) if colon else None


class Guard:
    """The accounts of one server, the credentials already verified, and the lock-out."""

    def __init__(self, settings: Settings) -> None:
        self.accounts: dict[str, Account] = {}
        for account in settings.accounts:
            self.accounts[account.user] = account
        # A hashed password takes ~50 ms to check (that is the point of scrypt); a page
        # of fifty files would take seconds. Credentials that passed are remembered as
        # a keyed digest (never the password itself), so each is hashed once.
        self.verified: set[bytes] = set()
        self.cache_key = os.urandom(32)
        self.lockout = Lockout(state_for(settings), settings.auth_attempts, settings.auth_window, settings.auth_lockout)

    @functools.cached_property
    def decoy(self) -> Account:
        """Checked against when the user is unknown, so that an unknown user costs the
        same time as a known one and timing does not reveal which names exist. (Made on
        first use: a hash takes a while, and most servers never need it.)"""
        hashed = any(account.hashed for account in self.accounts.values())
        return Account("", make_hash(os.urandom(16).hex()) if hashed else os.urandom(16).hex(), hashed)

    def accepts(self, user: str, password: str) -> bool:
        import hashlib  # here, not at start: see passwords.py (libcrypto only with passwords)
        import hmac

        digest = hmac.new(self.cache_key, f"{user}\0{password}".encode("utf-8"), hashlib.sha256).digest()
        if digest in self.verified:
            return True
        account = self.accounts.get(user)
        if account is None:
            self.decoy.accepts(password)
            return False
        if not account.accepts(password):
            return False
        if len(self.verified) >= 1024:
            self.verified.clear()
        self.verified.add(digest)
        return True


@functools.lru_cache(maxsize=4)
def guard_for(settings: Settings) -> Guard:
    """The server's one `Guard` (settings are frozen, so they can key it)."""
    return Guard(settings)


def needs_password(request: Request, settings: Settings) -> bool:
    if not settings.accounts:
        return False
    return not settings.auth_writes_only or request.method not in SAFE_METHODS


def password_refusal(request: Request, settings: Settings, client: str, ruled: bool = False) -> Response | None:
    """None when the request may go on (`request.user` set to who logged in, if anyone);
    else the 429 or 401 that answers it. `ruled`: access rules decide per path what an
    anonymous request may do (`permissions.decides_anonymous()`), so one without
    credentials goes on, and credentials sent are checked even where none are needed, so
    that the rules know the user."""
    if not (needs_password(request, settings) or (ruled and settings.accounts)):
        return None
    values = request.headers.get_all("authorization")
    if ruled and not values:
        return None  # anonymous: require() answers 401 where the rules need a user
    guard = guard_for(settings)
    wait = guard.lockout.retry_after(client)
    if wait is not None:
        return text_response(
            429, f"too many failed logins from your address; try again in {wait} seconds", [("Retry-After", str(wait))]
        )
    if not values:  # not an attempt yet: a browser asks first, then shows its prompt
        return challenge(settings, "log in: this server needs a user name and password")
    credentials = basic_credentials(values[0]) if len(values) == 1 else None
    if credentials is not None and guard.accepts(*credentials):
        request.user = credentials[0]
        return None
    guard.lockout.failed(client)
    if credentials is None:
        return challenge(settings, "the Authorization header is not Basic base64(user:password) in UTF-8")
    return challenge(settings, "wrong user name or password")


# An Authorization field line of a raw request head (RFC 9112 §5: name ":" OWS value).
AUTHORIZATION_LINE_RE = re.compile(rb"(?im)^(authorization:[ \t]*)[^\r\n]*")


def hide_credentials(raw_head: bytes, settings: Settings) -> bytes:
    """A request head to show back (`/echo`), with the value of `Authorization` hidden
    when this server checks passwords: a page that `--cors` lets read answers must not
    learn the password the browser saved for us."""
    if not settings.accounts:
        return raw_head
    return AUTHORIZATION_LINE_RE.sub(rb"\1[hidden]", raw_head)


def challenge(settings: Settings, reason: str) -> Response:
    """401 with the challenge (RFC 7617 §2, §2.1)."""
    return text_response(401, reason, [challenge_field(settings)])


def challenge_field(settings: Settings) -> tuple[str, str]:
    """`WWW-Authenticate` for this server's realm (RFC 7617 §2, §2.1)."""
    return ("WWW-Authenticate", f'Basic realm="{settings.auth_realm}", charset="UTF-8"')


def main(argv: list[str] | None = None) -> int:
    """`python3 -m app.auth hash USER [--pbkdf2]`: print a line for --auth-file."""
    parser = argparse.ArgumentParser(prog="python3 -m app.auth", description="Make a line for --auth-file.")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("hash", help="read a password and print USER:HASH")
    make.add_argument("user")
    make.add_argument("--pbkdf2", action="store_true", help="PBKDF2-HMAC-SHA256 instead of scrypt")
    arguments = parser.parse_args(argv)
    if not arguments.user or ":" in arguments.user:
        parser.error("a user name is non-empty and has no colon (RFC 7617 section 2)")
    password = ask_password()
    if not password:
        parser.error("empty password")
    print(hash_line(arguments.user, password, "pbkdf2_sha256" if arguments.pbkdf2 else "scrypt"))
    return 0


def ask_password() -> str:
    """From the terminal (asked twice, not echoed), or the first line of stdin."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    import getpass  # here, not at the top: the server never asks (termios; issue 20, idle memory)

    password = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != password:
        sys.exit("the two passwords differ")
    return password


if __name__ == "__main__":
    sys.exit(main())
