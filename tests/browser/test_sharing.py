"""Sharing in a real browser: Basic passwords (a logged-in page's own requests carry the
password), and CORS: a page served by one server (one origin) fetches from another server
on another port (another origin), which allows the page's origin, or not."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.conftest import wait_until

# Runs in the page: each fetch's status and body, or the error the browser raised when
# CORS hid the answer (a TypeError: "Failed to fetch").
FETCHES = """
const [base, attempts, done] = arguments;
(async () => {
  const results = [];
  for (const [path, init] of attempts) {
    try {
      const response = await fetch(base + path, init);
      results.push([response.status, await response.text()]);
    } catch (error) {
      results.push(["refused", error.name]);
    }
  }
  done(results);
})();
"""


def page_server(start_server, tmp_path: Path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("<!doctype html><title>another origin</title>")
    return start_server("--www", str(www))


def test_a_page_of_an_allowed_origin_reads_and_writes(browser, start_server, tmp_path: Path) -> None:
    page = page_server(start_server, tmp_path)
    origin = f"http://localhost:{page.port}"
    files = tmp_path / "files"
    files.mkdir()
    api = start_server("--directory", str(files), "--cors", origin)
    browser.get(origin + "/")
    attempts = [
        ["/echo/hello", {}],
        # A PUT with a custom header needs a preflight first; the browser sends it.
        ["/files/from-page.txt", {"method": "PUT", "body": "written by a page", "headers": {"X-Note": "1"}}],
        ["/files/missing", {}],  # an error is readable too
    ]
    results = browser.execute_async_script(FETCHES, f"http://127.0.0.1:{api.port}", attempts)
    assert results == [[200, "hello"], [201, ""], [404, "no file named missing\n"]]
    assert (files / "from-page.txt").read_text() == "written by a page"
    assert wait_until(lambda: '"OPTIONS /files/from-page.txt HTTP/1.1" 204' in api.log)


def test_a_page_of_another_origin_is_refused(browser, start_server, tmp_path: Path) -> None:
    page = page_server(start_server, tmp_path)
    files = tmp_path / "files"
    files.mkdir()
    api = start_server("--directory", str(files), "--cors", "http://elsewhere.example")
    plain = start_server("--directory", str(files))  # no --cors at all
    browser.get(f"http://localhost:{page.port}/")
    put = {"method": "PUT", "body": "x", "headers": {"X-Note": "1"}}
    for server in (api, plain):
        results = browser.execute_async_script(FETCHES, f"http://127.0.0.1:{server.port}", [["/echo/hello", {}], ["/files/x.txt", put]])
        assert results == [["refused", "TypeError"], ["refused", "TypeError"]]
    assert not (files / "x.txt").exists()  # the preflight failed: the PUT was never sent


def test_a_page_sends_a_password_to_a_named_origin(browser, start_server, tmp_path: Path) -> None:
    page = page_server(start_server, tmp_path)
    origin = f"http://localhost:{page.port}"
    api = start_server("--cors", origin, "--auth", "alice:s3cret")
    browser.get(origin + "/")
    token = base64.b64encode(b"alice:s3cret").decode()
    attempts = [
        ["/echo/hello", {}],  # no password: the 401 is readable, the browser shows no prompt
        ["/echo/hello", {"headers": {"Authorization": "Basic " + token}}],
    ]
    results = browser.execute_async_script(FETCHES, f"http://127.0.0.1:{api.port}", attempts)
    assert results == [[401, "log in: this server needs a user name and password\n"], [200, "hello"]]


def test_a_logged_in_page_sends_its_password_with_each_request(browser, start_server, tmp_path: Path) -> None:
    page_server(start_server, tmp_path)  # makes the page's folder
    locked = start_server("--www", str(tmp_path / "www"), "--auth", "alice:s3cret")
    browser.get(f"http://alice:s3cret@localhost:{locked.port}/")  # as if typed in the prompt
    assert browser.title == "another origin"
    results = browser.execute_async_script(FETCHES, f"http://localhost:{locked.port}", [["/echo/again", {}]])
    assert results == [[200, "again"]]
    assert wait_until(lambda: '"GET /echo/again HTTP/1.1" 200' in locked.log)
