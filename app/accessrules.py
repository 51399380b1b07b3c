"""Access rules: who may do what in which folder, as written on the command line
(`--allow PATH:USER=RIGHTS`, repeatable) or in `--access-file FILE` (the same rules, one a
line). This module only parses and looks rules up; `permissions.py` applies them.

    --allow /team:alice=rwdl     Alice reads, lists, writes and deletes under /team
    --allow /team:*=rl           everyone else (anonymous visitors too) reads and lists it
    --allow /private:alice=rwdl  Alice alone ...
    --allow /private:*=-         ... and nobody else: "-" (or nothing) grants no right
    --allow /inbox:*=w           a drop box: anyone uploads, nobody sees what is there

- PATH is a folder (or file) under --directory, "/" for the whole of it;
- USER is a user of --auth/--auth-file, or `*`: everyone, anonymous visitors included,
  who has no rule of their own at that folder;
- RIGHTS: letters of `r` read, `l` list, `w` write, `d` delete; `-` or empty for none.

For a user and a path, the deepest folder on the path that has a rule naming this user
or `*` decides alone (its rights are not added to those above it); at that folder the
user's own rule wins over `*`. No such folder: the server's behaviour without rules.
A later rule for the same folder and user replaces an earlier one (the file's rules come
after the command line's), so a file can change what a flag said.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EVERYONE = "*"
RIGHT_LETTERS = "rlwd"


@dataclass(frozen=True)
class Rule:
    folder: str  # relative to --directory, "/"-separated, "" for the whole of it
    user: str  # a user name, or EVERYONE
    rights: str  # letters of RIGHT_LETTERS, in that order; "" for none


def normal_folder(text: str) -> str:
    """A rule's PATH as a relative folder: "/team/" → "team", "/" → ""; ValueError for
    "." or ".." segments (a rule names a place, never a way out of one)."""
    segments = [segment for segment in text.strip("/").split("/") if segment]
    if any(segment in (".", "..") or "\0" in segment or "\\" in segment for segment in segments):
        raise ValueError(f"path {text!r} has a '.' or '..' segment, a NUL or a backslash")
    return "/".join(segments)


def normal_rights(text: str) -> str:
    """RIGHTS as letters in the order "rlwd"; "-" or "" for none."""
    if text in ("", "-"):
        return ""
    unknown = set(text) - set(RIGHT_LETTERS)
    if unknown:
        raise ValueError(f"unknown right(s) {''.join(sorted(unknown))!r}: use letters of r, l, w, d, or -")
    return "".join(letter for letter in RIGHT_LETTERS if letter in text)


def parse_rule(text: str) -> Rule:
    """`PATH:USER=RIGHTS` as a Rule; ValueError saying what is wrong. A user name has no
    colon (RFC 7617 §2), so the last colon before the last "=" ends the path."""
    left, equals, rights = text.strip().rpartition("=")
    path, colon, user = left.rpartition(":")
    if not equals or not colon or not path or not user:
        raise ValueError(f"{text!r} is not PATH:USER=RIGHTS (e.g. /team:alice=rwdl, /team:*=rl)")
    return Rule(normal_folder(path), user, normal_rights(rights))


def parse_rules_text(text: str, source: str) -> tuple[Rule, ...]:
    """The rules of an access file: one `PATH:USER=RIGHTS` a line; blank lines and lines
    starting with `#` are skipped. ValueError names the file and line of the first error."""
    rules = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                rules.append(parse_rule(line))
            except ValueError as error:
                raise ValueError(f"{source} line {number}: {error}") from None
    return tuple(rules)


def read_rules_file(path: Path) -> tuple[Rule, ...]:
    """The rules of `--access-file`; ValueError (or OSError) when it cannot be used."""
    return parse_rules_text(path.read_text(encoding="utf-8"), str(path))


class RuleTable:
    """Rules by folder, then by user: one dictionary look-up per folder on a path."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.folders: dict[str, dict[str, str]] = {}
        for rule in rules:
            self.folders.setdefault(rule.folder, {})[rule.user] = rule.rights
        self.users = frozenset(user for rule in rules for user in [rule.user] if user != EVERYONE)

    def __bool__(self) -> bool:
        return bool(self.folders)

    def __len__(self) -> int:
        return sum(len(users) for users in self.folders.values())

    def rights(self, user: str | None, path: str) -> str | None:
        """The rights of `user` (None: anonymous) at `path` (decoded, relative, "/"
        between segments): the deepest ruled folder's, or None when no rule applies."""
        segments = path.split("/") if path else []
        for depth in range(len(segments), -1, -1):
            users = self.folders.get("/".join(segments[:depth]))
            if users is None:
                continue
            if user is not None and user in users:
                return users[user]
            if EVERYONE in users:
                return users[EVERYONE]
        return None
