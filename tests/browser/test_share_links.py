"""Share links in a real browser: Alice makes one from the file manager (a tick, "Share
selected", an expiry, "Create link"), a customer opens it in a fresh browser (another profile: no
cookie, no saved password, nothing in common) and downloads the file; Alice revokes it,
and the customer's next visit gets 410 Gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser.conftest import find
from tests.conftest import wait_until


@pytest.fixture
def customer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """A second, fresh Chromium: its own profile, so a context that shares nothing."""
    options = webdriver.ChromeOptions()
    options.binary_location = find("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     f"--user-data-dir={tmp_path_factory.mktemp('customer-profile')}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=find("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def waiting_for(driver: webdriver.Chrome, selector: str):
    """The element once the page that has it is loaded (a click's navigation may still
    be under way when click() returns, on a busy machine)."""
    return WebDriverWait(driver, 15).until(EC.presence_of_element_located((By.CSS_SELECTOR, selector)))


def test_share_download_revoke(browser, customer, start_server, tmp_path: Path) -> None:
    root = tmp_path / "files"
    (root / "team").mkdir(parents=True)
    (root / "team/report.txt").write_text("the quarterly report\n")
    server = start_server("--directory", str(root), "--qr")

    browser.get(server.url + "/files/team/")
    # The listing's selection form: tick the file, then "Share selected".
    waiting_for(browser, "#entries input[name='report.txt']").click()
    browser.find_element(By.CSS_SELECTOR, "#selection button.share").click()
    Select(waiting_for(browser, "select[name=expires]")).select_by_visible_text("1d")
    browser.find_element(By.CSS_SELECTOR, "#share button[type=submit]").click()
    link = waiting_for(browser, "#link").get_attribute("value")
    assert link.startswith(server.url + "/s/")
    assert browser.find_element(By.CSS_SELECTOR, ".qr svg")  # --qr: the link's code on the page

    saved = tmp_path / "saved"
    saved.mkdir()
    customer.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(saved)})
    customer.get("about:blank")
    # A navigation that ends in a download never loads a page: started from the page's
    # script, so that WebDriver does not wait for (or report as aborted) a load.
    customer.execute_script("location.href = arguments[0]", link)
    assert wait_until(lambda: (saved / "report.txt").is_file(), timeout=15)
    assert (saved / "report.txt").read_text() == "the quarterly report\n"

    browser.find_element(By.CSS_SELECTOR, "button[id^=revoke-]").click()
    assert "revoked" in waiting_for(browser, "table").text  # back on the list, 303

    customer.get(link)
    assert "was revoked on" in waiting_for(customer, "body").text
    assert requests.get(link).status_code == 410
