"""Share links end to end, against the real server: made from the file manager's
/shares/ and from `python3 -m app share`, read, expired in real seconds, revoked (and
reused after), with a password, upload-only, attacked with path escapes (`../`,
percent-encoded, double-encoded, through symlinks) and other methods, 1,000 of them at
once, and never written to the access log or --trace."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from app.settings import Settings
from app.sharelinks import create_link, link_id
from tests.conftest import ROOT, ServerProcess, raw_request, wait_until

ALICE = ("alice", "alice-pw")
BOB = ("bob", "bob-pw")


def tree(root: Path) -> None:
    for folder in ("team/sub", "private", "inbox"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "team/report.txt").write_text("the report\n")
    (root / "team/sub/deep.txt").write_text("deep\n")
    (root / "private/secret.txt").write_text("top secret\n")
    (root / "inbox/theirs.txt").write_text("someone else's\n")


@pytest.fixture
def sharing(tmp_path: Path, start_server: Callable[..., ServerProcess]) -> tuple[ServerProcess, Path]:
    root = tmp_path / "root"
    root.mkdir()
    tree(root)
    server = start_server(
        "--directory", str(root), "--auth", "alice:alice-pw", "--auth", "bob:bob-pw",
        "--allow", "/private:alice=rwdl", "--allow", "/private:*=-", "--allow", "/team:*=rl", "--allow", "/team:alice=rwdl",
    )
    return server, root


def make(server: ServerProcess, path: str, auth=ALICE, **fields: str) -> requests.Response:
    return requests.post(
        server.url + "/shares/", data={"path": path, **fields}, auth=auth, headers={"Accept": "application/json"}
    )


def cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, input="",
    )


def raw_status(server: ServerProcess, target: str) -> tuple[int, bytes]:
    answer = raw_request(server.port, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    return int(answer.split(b" ")[1]), answer


# ---------------------------------------------------------------------------------------


def test_a_file_link_reads_that_file_and_nothing_else(sharing: tuple[ServerProcess, Path]) -> None:
    server, root = sharing
    made = make(server, "team/report.txt", expires="2d")
    assert made.status_code == 201, made.text
    link = made.json()["url"]
    answer = requests.get(link)
    assert answer.status_code == 200 and answer.text == "the report\n"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="report.txt"'
    assert requests.head(link).status_code == 200
    for method in ("PUT", "POST", "DELETE", "MKCOL", "PATCH"):
        refused = requests.request(method, link, data=b"x")
        assert refused.status_code in (405, 501), (method, refused.status_code)
    assert (root / "team/report.txt").read_text() == "the report\n"
    assert requests.get(link + "/x").status_code == 404
    for escape in ("/../secret.txt", "/..%2fprivate/secret.txt", "/%2e%2e/private/secret.txt"):
        status, body = raw_status(server, link.removeprefix(server.url) + escape)
        assert status in (400, 404) and b"top secret" not in body, (escape, status)


def test_a_folder_link_stays_in_its_folder(sharing: tuple[ServerProcess, Path]) -> None:
    server, root = sharing
    os.symlink(root / "private/secret.txt", root / "team/sub/link-to-secret.txt")
    os.symlink(root / "private", root / "team/sub/link-to-private")
    link = make(server, "team/sub", expires="1h").json()["url"]
    assert link.endswith("/")
    target = link.removeprefix(server.url)
    assert requests.get(link + "deep.txt").text == "deep\n"
    assert requests.get(link, headers={"Accept": "text/plain"}).text == "deep.txt\n"
    assert requests.get(link.rstrip("/"), allow_redirects=False).headers["Location"] == target
    escapes = [
        "../report.txt", "..%2freport.txt", "%2e%2e/report.txt", "%2E%2E/%2E%2E/private/secret.txt",
        "%252e%252e/report.txt", "./../report.txt", "sub/../../report.txt", "link-to-secret.txt",
        "link-to-private/secret.txt", "%2fetc/passwd", "..\\report.txt",
    ]
    for escape in escapes:
        status, body = raw_status(server, target + escape)
        assert status in (400, 403, 404), (escape, status)
        assert b"the report" not in body and b"top secret" not in body, escape
    import zipfile, io

    archive = requests.get(link + "?download=zip")
    assert archive.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(archive.content)).namelist() == ["sub/deep.txt"]


def test_a_link_grants_no_more_than_its_maker_has(sharing: tuple[ServerProcess, Path]) -> None:
    server, _ = sharing
    assert make(server, "private/secret.txt", auth=BOB).status_code == 404  # bob may not list /private
    assert make(server, "team/", auth=BOB, upload="on").status_code == 403  # bob may not write to /team
    assert make(server, "team/report.txt", auth=None).status_code == 401
    assert make(server, "team/nothing.txt").status_code == 404
    assert make(server, "team/report.txt", upload="on").status_code == 400  # upload-only is for folders
    assert make(server, "team/report.txt", expires_text="yesterday").status_code == 400
    link = make(server, "private/secret.txt").json()["url"]  # alice may: the holder reads it
    assert requests.get(link).text == "top secret\n"


def test_expiry_in_real_seconds(sharing: tuple[ServerProcess, Path]) -> None:
    server, root = sharing
    token, link = create_link(Settings(directory=root), "team/report.txt", time.time() + 2, folder=False)
    url = f"{server.url}/s/{token}"
    assert requests.get(url).status_code == 200
    assert wait_until(lambda: requests.get(url).status_code == 410, timeout=6)
    gone = requests.get(url)
    assert gone.text == f"share link {link.id} expired on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(link.expires))}\n"


def test_revoked_from_the_command_line_and_reused(sharing: tuple[ServerProcess, Path]) -> None:
    server, root = sharing
    made = cli("share", "team/report.txt", "--directory", str(root), "--expires", "2d", "--url", server.url)
    assert made.returncode == 0, made.stderr
    url = made.stdout.strip()
    assert url.startswith(server.url + "/s/") and requests.get(url).status_code == 200
    assert requests.get(url).status_code == 200
    listed = cli("shares", "--directory", str(root)).stdout
    token = url.rsplit("/", 1)[1]
    assert token not in listed
    assert f"{link_id(token)}  active " in listed and "     2  file      /team/report.txt" in listed
    revoked = cli("shares", "--directory", str(root), "--revoke", url)
    assert revoked.returncode == 0 and revoked.stdout == f"revoked {link_id(token)} (/team/report.txt)\n"
    for _ in range(3):  # reuse after revocation: gone every time
        answer = requests.get(url)
        assert answer.status_code == 410 and answer.text.startswith(f"share link {link_id(token)} was revoked on ")
    assert f"{link_id(token)}  revoked" in cli("shares", "--directory", str(root)).stdout
    assert cli("shares", "--directory", str(root), "--revoke", "nosuchlink").returncode == 1
    assert requests.get(server.url + "/s/" + "A" * 32).status_code == 404


def test_a_password_protected_link(sharing: tuple[ServerProcess, Path]) -> None:
    server, _ = sharing
    link = make(server, "team/report.txt", password="open sesame").json()["url"]
    missing = requests.get(link)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith('Basic realm="share link"')
    assert requests.get(link, auth=("anyone", "wrong")).status_code == 401
    assert requests.get(link, auth=("anyone", "open sesame")).text == "the report\n"
    assert requests.get(link, auth=("", "open sesame")).status_code == 200
    for _ in range(9):  # with the one above: 10 wrong passwords lock the address out
        requests.get(link, auth=("x", "guess"))
    locked = requests.get(link, auth=("x", "open sesame"))
    assert locked.status_code == 429 and "Retry-After" in locked.headers


def test_an_upload_only_link(sharing: tuple[ServerProcess, Path]) -> None:
    server, root = sharing
    made = make(server, "inbox", upload="on", expires="1d")
    link = made.json()["url"]
    assert made.json()["upload_only"] is True
    page = requests.get(link)
    assert page.status_code == 200 and "theirs.txt" not in page.text and 'type="file"' in page.text
    assert requests.get(link, headers={"Accept": "application/json"}).json() == []
    assert requests.get(link + "theirs.txt").status_code == 404
    assert requests.get(link + "?download=zip").status_code == 404
    assert requests.put(link + "mine.txt", data=b"dropped").status_code == 201
    assert (root / "inbox/mine.txt").read_bytes() == b"dropped"
    assert requests.put(link + "theirs.txt", data=b"overwrite").status_code == 403  # replacing needs delete
    assert requests.post(link, files={"file": ("form.txt", b"by form")}).status_code == 201
    assert (root / "inbox/form.txt").read_bytes() == b"by form"
    assert requests.delete(link + "mine.txt").status_code == 405
    assert requests.put(link + "../escape.txt", data=b"x").status_code in (400, 404)
    assert (root / "inbox/theirs.txt").read_text() == "someone else's\n"
    assert not (root / "escape.txt").exists() and not (root / "inbox/../escape.txt").exists()


def test_a_thousand_links(sharing: tuple[ServerProcess, Path]) -> None:
    server, root = sharing
    settings = Settings(directory=root)
    tokens = [create_link(settings, "team/report.txt", time.time() + 3600, folder=False)[0] for _ in range(1000)]
    assert len(set(tokens)) == 1000
    with requests.Session() as session:
        for token in tokens[::10]:
            assert session.get(f"{server.url}/s/{token}").text == "the report\n"
    assert cli("shares", "--directory", str(root)).stdout.count("  active ") == 1000


def test_tokens_never_reach_the_log_or_the_trace(tmp_path: Path, start_server: Callable[..., ServerProcess]) -> None:
    root = tmp_path / "root"
    root.mkdir()
    tree(root)
    log = tmp_path / "access.log"
    server = start_server("--directory", str(root), "--access-log", str(log), "--trace-body", "4096")
    made = requests.post(server.url + "/shares/", data={"path": "team"}, headers={"Accept": "application/json"})
    url = made.json()["url"]
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert requests.get(url + "report.txt").status_code == 200
    assert requests.get(url, headers={"Accept": "text/html"}).status_code == 200
    assert requests.get(url.rstrip("/"), allow_redirects=False).status_code == 301
    server.stop()
    logged = log.read_text() + server.log
    assert token not in logged
    assert f"GET /s/[link {link_id(token)}]/report.txt HTTP/1.1" in logged
    assert f"/s/[link {link_id(token)}]" in server.log  # the trace, the 201's body and the 301's Location


def test_the_listings_share_selected_opens_the_form_for_the_one_checked_entry(
    sharing: tuple[ServerProcess, Path],
) -> None:
    """The listing's "Share selected" (no JavaScript needed): `GET /shares/` with the
    checked boxes (named by the percent-encoded name) and `share-in=FOLDER` last."""
    server, root = sharing
    (root / "team/a b%.txt").write_text("odd\n")
    page = requests.get(server.url + "/files/team/", auth=ALICE)
    assert 'name="share-in" value="team/"' in page.text and "Share selected" in page.text
    form = requests.get(server.url + "/shares/?a%2520b%2525.txt=on&share-in=team/", auth=ALICE)
    assert form.status_code == 200, form.text
    assert 'name="path" value="team/a b%.txt"' in form.text
    two = requests.get(server.url + "/shares/?report.txt=on&sub=on&share-in=team/", auth=ALICE)
    assert (two.status_code, two.text.strip()) == (400, "check exactly one entry to share, not 2")
    none = requests.get(server.url + "/shares/?share-in=team/", auth=ALICE)
    assert (none.status_code, none.text.strip()) == (400, "check exactly one entry to share, not 0")
    outside = requests.get(server.url + "/shares/?secret.txt=on&share-in=private/", auth=BOB)
    assert outside.status_code in (403, 404), outside.text


def test_links_kept_are_capped_and_ended_ones_make_room(tmp_path: Path, start_server) -> None:
    """--max-share-links bounds the table: at the cap an ended link (revoked, expired) is
    dropped to make room, oldest first; with every link in force, one more is 507."""
    (tmp_path / "a.txt").write_text("a\n")
    server = start_server("--directory", str(tmp_path), "--max-share-links", "3")
    made = [make(server, "a.txt", auth=None) for _ in range(3)]
    assert [answer.status_code for answer in made] == [201, 201, 201]
    refused = make(server, "a.txt", auth=None)
    assert refused.status_code == 507
    assert refused.text == "3 share links are in force, the most kept (--max-share-links): revoke one first\n"
    first, second = (answer.json()["url"] for answer in made[:2])
    for url in (second, first):  # revoked in this order; `first` was made first
        assert cli("shares", "--directory", str(tmp_path), "--revoke", url).returncode == 0
    assert make(server, "a.txt", auth=None).status_code == 201  # made room: `first` dropped
    assert requests.get(first).status_code == 404
    assert requests.get(second).status_code == 410  # still kept, still says why
    listed = cli("shares", "--directory", str(tmp_path)).stdout
    assert listed.count("  active ") == 2 and listed.count("  revoked ") == 1
    capped = ("--directory", str(tmp_path), "--url", server.url, "--max-share-links", "3")
    assert cli("share", "a.txt", *capped).returncode == 0  # `second` made room
    again = cli("share", "a.txt", *capped)
    assert again.returncode == 1 and "3 share links are in force" in again.stderr
