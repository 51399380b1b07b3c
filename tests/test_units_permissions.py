"""Pure functions of the access rules, share links and QR codes, table-driven: rule
syntax, the deepest-rule look-up, expiry with a frozen clock, token hiding, the QR
drawing read back, and share-link records (expiry, revocation, 1,000 links) on an
in-memory state database."""

from __future__ import annotations

import calendar
from pathlib import Path

import pytest

from app import qr, sharelinks
from app.accessrules import Rule, RuleTable, parse_rule, parse_rules_text
from app.settings import Settings
from app.sharelinks import (
    create_link,
    find_link,
    hide_tokens,
    link_id,
    new_token,
    parse_expiry,
    revoke,
)


@pytest.mark.parametrize(
    "text, rule",
    [
        ("/team:alice=rwdl", Rule("team", "alice", "rlwd")),
        ("/team:*=rl", Rule("team", "*", "rl")),
        ("team/:*=lr", Rule("team", "*", "rl")),  # letters in any order, kept as "rlwd" order
        ("/:*=r", Rule("", "*", "r")),
        ("/private:*=-", Rule("private", "*", "")),
        ("/private:*=", Rule("private", "*", "")),
        ("/a b/c:bob=w", Rule("a b/c", "bob", "w")),
        ("/odd:name:bob=d", Rule("odd:name", "bob", "d")),  # the last colon ends the path
        ("//x//y/:carol=l", Rule("x/y", "carol", "l")),
    ],
)
def test_parse_rule(text: str, rule: Rule) -> None:
    assert parse_rule(text) == rule


@pytest.mark.parametrize(
    "text, words",
    [
        ("/team=rl", "not PATH:USER=RIGHTS"),
        ("/team:alice", "not PATH:USER=RIGHTS"),
        (":alice=r", "not PATH:USER=RIGHTS"),
        ("/team:=r", "not PATH:USER=RIGHTS"),
        ("/team:alice=rx", "unknown right(s) 'x'"),
        ("/team/../private:alice=r", "'..' segment"),
        ("/./team:alice=r", "'.' or '..' segment"),
    ],
)
def test_parse_rule_refuses(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_rule(text)


def test_rules_file_skips_comments_and_names_the_bad_line() -> None:
    assert parse_rules_text("# team\n\n/team:*=rl\n  # more\n", "f") == (Rule("team", "*", "rl"),)
    with pytest.raises(ValueError, match="f line 3: "):
        parse_rules_text("/a:*=r\n\nnonsense\n", "f")


TEAM = RuleTable(
    (
        parse_rule("/team:alice=rwdl"),
        parse_rule("/team:*=rl"),
        parse_rule("/team/sub:*=r"),
        parse_rule("/private:alice=rwdl"),
        parse_rule("/private:*=-"),
        parse_rule("/inbox:*=w"),
        parse_rule("/team:alice=rwd"),  # a later rule for the same folder and user replaces
    )
)


@pytest.mark.parametrize(
    "user, path, rights",
    [
        ("alice", "team", "rwd"),
        ("alice", "team/a/b.txt", "rwd"),
        ("bob", "team/a.txt", "rl"),
        (None, "team/a.txt", "rl"),
        ("alice", "team/sub/x", "r"),  # the deepest folder decides, for alice too (via *)
        ("bob", "private/x", ""),
        (None, "private", ""),
        ("alice", "private/deep/x", "rlwd"),
        (None, "inbox/x", "w"),
        ("bob", "teamwork/x", None),  # whole segments: teamwork is not under team
        ("bob", "", None),  # no rule at the root: the server's behaviour without rules
        ("bob", "other/x", None),
    ],
)
def test_deepest_rule_wins(user: str | None, path: str, rights: str | None) -> None:
    assert TEAM.rights(user, path) == rights


def test_rule_table_counts_and_users() -> None:
    assert len(TEAM) == 6 and TEAM.users == {"alice"} and not RuleTable(())


# ---------------------------------------------------------------------------------------
# Share links: expiry, tokens, records
# ---------------------------------------------------------------------------------------

NOW = calendar.timegm((2026, 12, 7, 12, 0, 0))  # a Monday, noon UTC


@pytest.mark.parametrize(
    "text, expires",
    [
        ("30m", NOW + 1800),
        ("12h", NOW + 12 * 3600),
        ("2d", NOW + 2 * 86400),
        ("1w", NOW + 7 * 86400),
        ("never", None),
        ("2026-12-11", calendar.timegm((2026, 12, 12, 0, 0, 0))),  # the end of Friday
        ("2026-12-11T17:00", calendar.timegm((2026, 12, 11, 17, 0, 0))),
        ("2026-12-11 17:00", calendar.timegm((2026, 12, 11, 17, 0, 0))),
    ],
)
def test_parse_expiry(text: str, expires: float | None) -> None:
    assert parse_expiry(text, NOW) == expires


@pytest.mark.parametrize("text", ["0d", "2y", "-1d", "yesterday", "2026-12-06", "2026-12-07T11:59", "1.5d", ""])
def test_parse_expiry_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_expiry(text, NOW)


def test_tokens_are_192_random_bits_and_hidden_in_text() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000 and all(sharelinks.TOKEN_RE.fullmatch(token) for token in tokens)
    token = tokens.pop()
    line = f"GET /s/{token}/sub/a.txt?x=1 HTTP/1.1"
    hidden = hide_tokens(line)
    assert token not in hidden and hidden == f"GET /s/[link {link_id(token)}]/sub/a.txt?x=1 HTTP/1.1"
    assert hide_tokens(f"Location: http://h/s/{token}") == f"Location: http://h/s/[link {link_id(token)}]"
    assert hide_tokens("GET /files/s/abc HTTP/1.1") == "GET /files/s/abc HTTP/1.1"


class FrozenClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, FrozenClock]:
    clock = FrozenClock(NOW)
    monkeypatch.setattr(sharelinks, "clock", clock)
    return Settings(directory=tmp_path, state_dir=tmp_path / "state"), clock


def test_link_expires_on_the_second(frozen: tuple[Settings, FrozenClock]) -> None:
    settings, clock = frozen
    token, link = create_link(settings, "a.txt", parse_expiry("2d", NOW), folder=False, now=NOW)
    assert find_link(settings, token).state(clock()) == "active"
    clock.now = NOW + 2 * 86400 - 1
    assert find_link(settings, token).state(clock()) == "active"
    clock.now = NOW + 2 * 86400
    assert find_link(settings, token).state(clock()) == "expired"


def test_revoked_stays_revoked_and_is_found_by_token_or_id(frozen: tuple[Settings, FrozenClock]) -> None:
    settings, clock = frozen
    token, link = create_link(settings, "d", None, folder=True, now=NOW)
    other, _ = create_link(settings, "d", None, folder=True, now=NOW)
    assert revoke(settings, "000000000000") is None
    assert revoke(settings, token).id == link.id
    clock.now += 10
    assert revoke(settings, link.id).id == link.id  # again: the first revocation's time stays
    assert find_link(settings, token).revoked == NOW
    assert find_link(settings, other).state(clock()) == "active"
    assert revoke(settings, other, creator="bob", anyone=False) is None  # made by no one: not bob's


def test_the_database_keeps_no_token(frozen: tuple[Settings, FrozenClock]) -> None:
    settings, _ = frozen
    token, _ = create_link(settings, "a.txt", None, folder=False, password="pw", now=NOW)
    stored = b"".join(path.read_bytes() for path in (settings.state_dir).iterdir())
    assert token.encode() not in stored and b"pw\x00" not in stored


def test_a_thousand_links_each_its_own(frozen: tuple[Settings, FrozenClock]) -> None:
    settings, _ = frozen
    made = [create_link(settings, f"f{number}.txt", None, folder=False, now=NOW) for number in range(1000)]
    assert len({token for token, _ in made}) == 1000
    for token, link in made[::37]:
        assert find_link(settings, token).path == link.path
    assert find_link(settings, new_token()) is None


def test_upload_only_is_for_folders(frozen: tuple[Settings, FrozenClock]) -> None:
    with pytest.raises(ValueError, match="for a folder"):
        create_link(frozen[0], "a.txt", None, folder=False, upload_only=True)


# ---------------------------------------------------------------------------------------
# QR: the terminal drawing reads back as segno's own matrix for the same text
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://192.168.1.20:4221/", "http://localhost:4221/s/" + "A" * 32 + "/"])
def test_qr_drawing_is_segnos_matrix(url: str) -> None:
    import segno

    expected = [[bool(module) for module in row] for row in segno.make(url, error="m").matrix_iter(border=4)]
    drawn = qr.matrix_from_text(qr.terminal_text(url))
    assert drawn[: len(expected)] == expected
    assert all(not any(row) for row in drawn[len(expected) :])  # at most one light padding row
    assert url in qr.svg(url) and qr.svg(url).startswith("<svg")


def test_only_qr_imports_segno() -> None:
    sources = {path.name: path.read_text() for path in Path(qr.__file__).parent.glob("*.py")}
    assert [name for name, text in sources.items() if "import segno" in text] == ["qr.py"]
