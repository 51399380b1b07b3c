"""The accounts that may log in, and how their passwords are stored and checked.

An account comes from `--auth USER:PASSWORD` (the password itself, kept in memory only)
or from a line of `--auth-file FILE`, which stores a salted hash instead:

    alice:scrypt$16384$8$1$<salt, base64>$<hash, base64>
    bob:pbkdf2_sha256$600000$<salt, base64>$<hash, base64>

`python3 -m app.auth hash USER` prints such a line (`hash_line`). Passwords are compared
with `hmac.compare_digest`, whose time does not depend on where the bytes differ. No
function here puts a password, or a line of the file, in an error message: argparse
prints those messages, and a password must never reach a terminal or a log.

`hashlib` and `hmac` are imported where they are used, never at start: they load
OpenSSL's libcrypto (3.5 MiB of RSS) that a server without passwords never needs
(docs/performance.md, "Idle memory"); importing a module already imported is a lookup.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

# scrypt's cost (RFC 7914): N=2**14, r=8, p=1 uses 16 MiB and ~50 ms per check, the
# parameters OWASP's Password Storage Cheat Sheet lists. PBKDF2-HMAC-SHA256: 600,000
# iterations, the same sheet's figure for 2023.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
PBKDF2_ITERATIONS = 600_000
# A file may ask for more, within reason: a check must not eat the machine.
MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
MAX_PBKDF2_ITERATIONS = 10_000_000

B64 = r"[A-Za-z0-9+/]+={0,2}"
SCRYPT_RE = re.compile(rf"scrypt\$([0-9]{{1,8}})\$([0-9]{{1,3}})\$([0-9]{{1,3}})\$({B64})\$({B64})")
PBKDF2_RE = re.compile(rf"pbkdf2_sha256\$([0-9]{{1,8}})\$({B64})\$({B64})")


@dataclass(frozen=True)
class Account:
    """A user who may log in: the password itself (`hashed` False) or its hash."""

    user: str
    stored: str = field(repr=False)  # never printed, not even in a debugging repr
    hashed: bool = False

    def accepts(self, password: str) -> bool:
        import hmac

        if self.hashed:
            return verify_hash(self.stored, password)
        return hmac.compare_digest(password.encode("utf-8"), self.stored.encode("utf-8"))


# ---------------------------------------------------------------------------------------
# Hashes
# ---------------------------------------------------------------------------------------


def make_hash(password: str, scheme: str = "scrypt") -> str:
    """A new salted hash of `password` in the `--auth-file` format."""
    import hashlib

    salt = os.urandom(16)
    if scheme == "pbkdf2_sha256":
        digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, PBKDF2_ITERATIONS)
        return f"pbkdf2_sha256${PBKDF2_ITERATIONS}${b64(salt)}${b64(digest)}"
    digest = scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, 32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt)}${b64(digest)}"


def verify_hash(stored: str, password: str) -> bool:
    """Whether `password` matches a hash that `hash_problem` accepted."""
    import hashlib
    import hmac

    if match := SCRYPT_RE.fullmatch(stored):
        n, r, p, salt, expected = match.groups()
        expected_bytes = unb64(expected)
        digest = scrypt(password, unb64(salt), int(n), int(r), int(p), len(expected_bytes))
    else:
        iterations, salt, expected = PBKDF2_RE.fullmatch(stored).groups()
        expected_bytes = unb64(expected)
        digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), unb64(salt), int(iterations))
    return hmac.compare_digest(digest, expected_bytes)


def hash_problem(stored: str) -> str | None:
    """What is wrong with a stored hash, or None when it can be checked."""
    if match := SCRYPT_RE.fullmatch(stored):
        n, r, p = (int(number) for number in match.groups()[:3])
        if n < 2 or n & (n - 1) or r < 1 or p < 1:
            return "scrypt needs N a power of 2 and r, p at least 1"
        if 128 * n * r > MAX_SCRYPT_MEMORY:
            return f"scrypt parameters need more than {MAX_SCRYPT_MEMORY // 2**20} MiB"
    elif match := PBKDF2_RE.fullmatch(stored):
        if not 1 <= int(match.group(1)) <= MAX_PBKDF2_ITERATIONS:
            return f"pbkdf2_sha256 needs 1 to {MAX_PBKDF2_ITERATIONS} iterations"
    else:
        return "not a scrypt$N$r$p$salt$hash or pbkdf2_sha256$iterations$salt$hash hash"
    salt, expected = match.groups()[-2:]
    if unb64(salt) is None or not unb64(expected):
        return "its salt or hash is not base64"
    return None


def scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    import hashlib

    # OpenSSL refuses to use more than `maxmem` (32 MiB by default): allow what N and r need.
    memory = 128 * n * r * (p + 1) + 1024 * 1024
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=memory, dklen=length)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        return None


# ---------------------------------------------------------------------------------------
# The command line: --auth USER:PASSWORD and --auth-file FILE
# ---------------------------------------------------------------------------------------


def auth_option(value: str) -> Account:
    """`--auth USER:PASSWORD` (split at the first colon, as RFC 7617 §2 splits user-pass)."""
    user, colon, password = value.partition(":")
    if not colon or not user or not password:
        # The value is not repeated: it may hold a password with a typo in it.
        raise argparse.ArgumentTypeError("expected USER:PASSWORD, both non-empty")
    try:
        value.encode("utf-8")  # bytes that are not UTF-8 reach Python as lone surrogates
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("USER:PASSWORD is not valid UTF-8") from None
    return Account(user, password)


def auth_file(value: str) -> tuple[Account, ...]:
    """`--auth-file FILE`: one `user:hash` per line; blank lines and `#` comments skipped."""
    try:
        text = Path(value).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise argparse.ArgumentTypeError(f"cannot read {value}: {getattr(error, 'strerror', None) or error}") from None
    accounts = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, _, stored = line.partition(":")
        problem = "no user name" if not user else hash_problem(stored)
        if problem is not None:
            raise argparse.ArgumentTypeError(f"{value} line {number}: {problem}")
        accounts.append(Account(user, stored, hashed=True))
    if not accounts:
        raise argparse.ArgumentTypeError(f"{value} names no user")
    return tuple(accounts)


def hash_line(user: str, password: str, scheme: str = "scrypt") -> str:
    """A line for `--auth-file`."""
    return f"{user}:{make_hash(password, scheme)}"
