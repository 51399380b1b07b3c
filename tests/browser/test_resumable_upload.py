"""The listing's file manager sends a file above 8 MiB through tus in 4 MiB PATCHes
(app/listing_view.py). Here a 30 MB upload is cut half-way (the server is killed), the
page is left, the server restarted, the page loaded again and the same file picked: the
upload resumes where the server's record says, without a new upload and without sending
again what was stored, and the stored file is byte-exact."""

from __future__ import annotations

import os
import signal
import socket
import time

from selenium.webdriver.common.by import By

from tests.browser.test_page import wait_until

MiB = 1024 * 1024
SIZE = 30 * 1000 * 1000
CHUNK = 4 * MiB


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def partial_size(folder) -> int:
    sizes = [path.stat().st_size for path in folder.glob(".*.tus-*.part")]
    return max(sizes, default=0)


def pick_and_upload(browser, path) -> None:
    browser.find_element(By.CSS_SELECTOR, "#upload-files input[type=file]").send_keys(str(path))
    browser.find_element(By.CSS_SELECTOR, "#upload-files button").click()


def access_lines(server, method: str) -> list[str]:
    return [line for line in server.stderr_lines if f'"{method} /files/' in line]


def test_a_cut_upload_resumes_after_a_reload(browser, start_server, tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    source = tmp_path / "thirty.bin"
    source.write_bytes(os.urandom(SIZE))
    port = str(free_port())  # the same origin after the restart: localStorage is per origin
    server = start_server("--directory", str(folder), "--port", port)
    browser.get(server.url + "/files/")
    pick_and_upload(browser, source)
    assert wait_until(lambda: partial_size(folder) >= 12 * MiB, timeout=60)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    browser.get("about:blank")  # the page is gone with its retries; the upload URL stays stored

    server = start_server("--directory", str(folder), "--port", port)
    browser.get(server.url + "/files/")
    stored = int(browser.execute_script(
        "const url = Object.entries(localStorage).find(([key]) => key.startsWith('tus '))[1];"
        "return fetch(url, {method: 'HEAD', headers: {'Tus-Resumable': '1.0.0'}})"
        ".then((answer) => answer.headers.get('Upload-Offset'));"
    ))  # fmt: skip
    assert 8 * MiB <= stored < SIZE and stored % CHUNK == 0
    pick_and_upload(browser, source)
    assert wait_until(lambda: (folder / "thirty.bin").exists(), timeout=60), browser.find_element(By.ID, "progress").text
    assert (folder / "thirty.bin").read_bytes() == source.read_bytes()
    assert wait_until(lambda: "done" in browser.find_element(By.ID, "progress").text)

    # What the restarted server received: no new upload, and only the PATCHes from `stored`
    # on (the access lines are written once a second).
    expected_patches = -(-(SIZE - stored) // CHUNK)
    assert wait_until(lambda: len(access_lines(server, "PATCH")) == expected_patches), access_lines(server, "PATCH")
    time.sleep(1.2)
    assert len(access_lines(server, "PATCH")) == expected_patches
    assert not [line for line in access_lines(server, "POST") if '"POST /files/ ' in line]
    assert browser.execute_script("return Object.keys(localStorage).filter((key) => key.startsWith('tus ')).length") == 0


def test_an_upload_the_server_no_longer_has_says_so_and_starts_again(browser, start_server, tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    source = tmp_path / "again.bin"
    source.write_bytes(os.urandom(10 * MiB))
    port = str(free_port())
    server = start_server("--directory", str(folder), "--port", port)
    browser.get(server.url + "/files/")
    pick_and_upload(browser, source)
    assert wait_until(lambda: partial_size(folder) >= 4 * MiB, timeout=60)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    browser.get("about:blank")
    server = start_server("--directory", str(folder), "--port", port)
    browser.get(server.url + "/files/")
    terminated = browser.execute_script(
        "const url = Object.entries(localStorage).find(([key]) => key.startsWith('tus '))[1];"
        "return fetch(url, {method: 'DELETE', headers: {'Tus-Resumable': '1.0.0'}}).then((answer) => answer.status);"
    )  # fmt: skip
    assert terminated == 204
    pick_and_upload(browser, source)
    assert wait_until(lambda: (folder / "again.bin").exists(), timeout=60)
    assert (folder / "again.bin").read_bytes() == source.read_bytes()
    assert wait_until(lambda: "done (cannot resume: the server no longer had the earlier upload" in browser.find_element(By.ID, "progress").text)


def test_the_home_page_sends_big_files_through_tus(browser, start_server, tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    source = tmp_path / "twelve.bin"
    source.write_bytes(os.urandom(12 * MiB))
    server = start_server("--directory", str(folder))
    browser.get(server.url + "/")
    browser.find_element(By.ID, "file-input").send_keys(str(source))
    assert wait_until(lambda: browser.find_element(By.CSS_SELECTOR, "#uploads .state").text == "uploaded", timeout=60)
    assert (folder / "twelve.bin").read_bytes() == source.read_bytes()
    assert wait_until(lambda: len(access_lines(server, "PATCH")) == 3)
    assert not access_lines(server, "PUT")
