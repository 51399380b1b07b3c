"""Headers the user adds to every response: `-H/--header 'Name: value'` and `--server-header`.

Both are checked when the command line is read, so a typo is an error before the server
starts rather than a broken response later: the name must be a token and the value
visible ASCII, spaces and tabs (RFC 9110 §5.1, §5.5), and the fields that frame the
message are the server's alone.
"""

from __future__ import annotations

import argparse
import re

from app.fields import TOKEN_STR_RE

# RFC 9110 §5.5 (field-value, with obs-text left out: a command line is text, and a
# value of ours should be ASCII), after the surrounding whitespace is stripped.
CONFIGURED_VALUE_RE = re.compile(r"[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?")

# Fields that say where the message ends or what the connection does: the server writes
# them itself (RFC 9112 §6, §9.6; RFC 9110 §7.6.1), and a second value would break framing.
# Date too: it is the time of each response (RFC 9110 §6.6.1), which --date sends.
SERVER_OWNED = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
     "proxy-connection", "date"}
)

# `--server-header` with no name: the project's name and version.
SERVER_NAME = "SimplePythonServer/1.0"


def header_line(value: str) -> tuple[str, str]:
    """`-H 'Name: value'`, as (name, value)."""
    name, colon, field_value = value.partition(":")
    field_value = field_value.strip(" \t")
    if not colon or not TOKEN_STR_RE.fullmatch(name):
        raise argparse.ArgumentTypeError(f"{value!r} is not 'Name: value' with a name made of letters, digits and !#$%&'*+-.^_`|~")
    if not CONFIGURED_VALUE_RE.fullmatch(field_value):
        raise argparse.ArgumentTypeError(f"the value of {name} must be visible ASCII, spaces and tabs, and not empty")
    if name.lower() in SERVER_OWNED:
        raise argparse.ArgumentTypeError(f"{name} is set by the server itself")
    return name, field_value


def server_name(value: str) -> str:
    """`--server-header NAME` (RFC 9110 §10.2.4: product tokens and comments)."""
    if not CONFIGURED_VALUE_RE.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not visible ASCII and spaces")
    return value


def replace_fields(headers: list[tuple[str, str]], fields: list[tuple[str, str]]) -> None:
    """Add `fields`, dropping the same-named ones already there: `-H 'Cache-Control:
    no-store'` overrides the handler's own (as caddy's `header` does)."""
    names = {name.lower() for name, _ in fields}
    headers[:] = [(name, value) for name, value in headers if name.lower() not in names]
    headers.extend(fields)


def add_vary(headers: list[tuple[str, str]], value: str) -> None:
    """Add to `Vary`, a list of field names (RFC 9110 §12.5.5), keeping it one line."""
    for index, (name, existing) in enumerate(headers):
        if name.lower() == "vary":
            headers[index] = (name, f"{existing}, {value}")
            return
    headers.append(("Vary", value))
