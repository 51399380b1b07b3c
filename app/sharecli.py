"""Share links from the command line, on the same state as the server:

    python3 -m app share PATH --directory DIR [--expires 2d] [--password] [--upload-only]
                              [--url http://HOST:PORT/] [--qr] [--state-dir S] [--max-share-links N]
    python3 -m app shares --directory DIR [--state-dir S] [--revoke TOKEN_OR_ID]

`share` prints the link's URL (and its QR code with --qr); `shares` lists every link
(id, state, expiry, uses, path), or ends one. `--directory` and `--state-dir` name the
same state database the server uses (`state.py`), so a link made here works at once in a
running server, and one revoked here is refused (410) at its next use.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.errors import HTTPError
from app.settings import Limits, Settings, existing_directory
from app.sharelinks import SHARE_PREFIX, all_links, clock, create_link, parse_expiry, revoke, utc_text


def state_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--directory", type=existing_directory, required=True, metavar="DIR",
                        help="the folder the server serves (the link's PATH is under it)")
    parser.add_argument("--state-dir", type=Path, metavar="DIR",
                        help="the server's --state-dir, if it was given one (default: DIR/.http-server-state)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m app", description="Make, list and revoke share links.")
    commands = parser.add_subparsers(dest="command", required=True)
    share = commands.add_parser("share", help="make a link and print its URL")
    share.add_argument("path", metavar="PATH", help="a file or folder under --directory")
    share.add_argument("--expires", default="7d", help="30m, 12h, 2d, 1w, YYYY-MM-DD (to the end of that day, UTC), "
                       "YYYY-MM-DDTHH:MM (UTC) or never (default: %(default)s)")
    share.add_argument("--password", action="store_true", help="ask for a password the link will need (read from stdin when not a terminal)")
    share.add_argument("--upload-only", action="store_true", help="a folder people drop files into, seeing nothing")
    share.add_argument("--url", default="http://localhost:4221/", help="the server's URL as people reach it (default: %(default)s)")
    share.add_argument("--qr", action="store_true", help="also print the URL as a QR code (needs segno)")
    share.add_argument("--max-share-links", type=int, default=Limits.max_share_links, metavar="N",
                       help="the server's --max-share-links, if it was given one (default: %(default)s)")
    state_options(share)
    shares = commands.add_parser("shares", help="list the links, or --revoke one")
    shares.add_argument("--revoke", metavar="TOKEN_OR_ID", help="end this link (its URL, its token or its id)")
    state_options(shares)
    return parser


def make(arguments: argparse.Namespace, settings: Settings) -> int:
    relative = arguments.path.strip("/")
    place = (settings.directory / relative) if relative else settings.directory
    if ".." in relative.split("/") or not (place.is_file() or place.is_dir()):
        print(f"no file or folder named {relative or '/'} under {settings.directory}", file=sys.stderr)
        return 1
    password = None
    if arguments.password:
        from app.auth import read_password

        password = read_password() or None
    try:
        expires = parse_expiry(arguments.expires, clock())
        token, _ = create_link(settings, relative, expires, folder=place.is_dir(), password=password,
                               upload_only=arguments.upload_only)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    except HTTPError as error:  # every link kept is in force (Limits.max_share_links)
        print(error.reason, file=sys.stderr)
        return 1
    url = arguments.url.rstrip("/") + SHARE_PREFIX + token + ("/" if place.is_dir() else "")
    print(url)
    if arguments.qr:
        print_qr(url)
    return 0


def print_qr(url: str) -> None:
    from app import qr  # the one module that imports segno

    hint = qr.install_hint()
    print(hint if hint is not None else qr.terminal_text(url), end="" if hint is None else "\n")


def listing(arguments: argparse.Namespace, settings: Settings) -> int:
    if arguments.revoke:
        # A token, a whole URL (/s/TOKEN...) or an id; the error never repeats a token.
        link = revoke(settings, arguments.revoke.rpartition(SHARE_PREFIX)[2].strip("/"))
        if link is None:
            print("no such share link", file=sys.stderr)
            return 1
        print(f"revoked {link.id} (/{link.path})")
        return 0
    now = clock()
    print(f"{'id':12}  {'state':7}  {'expires':20}  {'uses':>5}  kind      path")
    for link in all_links(settings):
        kind = "upload" if link.upload_only else ("folder" if link.folder else "file")
        kind += "+pw" if link.password else ""
        print(f"{link.id:12}  {link.state(now):7}  {utc_text(link.expires):20}  {link.uses:>5}  {kind:8}  /{link.path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    limits = Limits(max_share_links=getattr(arguments, "max_share_links", Limits.max_share_links))
    settings = Settings(directory=arguments.directory, state_dir=arguments.state_dir, limits=limits)
    return make(arguments, settings) if arguments.command == "share" else listing(arguments, settings)
