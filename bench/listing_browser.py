"""The file manager on a big folder, in headless Chromium: how long the page takes to
load, the filter to apply as you type, and a sort (a column head's link) to show.

    python3 bench/listing_browser.py                  # 20,000 entries
    python3 bench/listing_browser.py --entries 5000

Needs Debian's chromium and chromium-driver (and selenium, in the Pipfile). The folder
is made as bench/listing.py makes it. Times are the browser's own clocks
(`performance.now()`, Navigation Timing), medians of `--rounds`, but the sort's, which
is the wall clock from the click to the frame after the table is in order (polled).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from listing import make_folder  # noqa: E402

# From the input event to the frame after the rows changed: the change, the style and
# layout it causes, and the paint (two animation frames: the page's own frame callback,
# if it waits for one, runs in the first).
FILTER = """
const done = arguments[arguments.length - 1];
const box = document.getElementById("filter"), started = performance.now();
box.value = arguments[0];
box.dispatchEvent(new Event("input"));
requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - started)));
"""
# The page sorted by size: the current column says so, the page is loaded, and the first
# entry row is the one expected; then the frame after it (as FILTER).
SORTED = """
const done = arguments[arguments.length - 1];
const head = document.querySelector("th[aria-sort]"), first = document.querySelector("#entries tr:not(.parent) a");
if (document.readyState !== "complete" || !head || !head.textContent.startsWith("Size") || !first || first.textContent !== arguments[0]) return done(false);
requestAnimationFrame(() => requestAnimationFrame(() => done(true)));
"""
LOADED = "const t = performance.timing; return t.loadEventEnd > 0 ? t.loadEventEnd - t.navigationStart : null;"


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


def load_time(driver: webdriver.Chrome) -> float:
    for _ in range(600):
        value = driver.execute_script(LOADED)
        if value:
            return float(value)
    raise RuntimeError("the page did not load")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / "big"
        make_folder(folder, arguments.entries)
        server = subprocess.Popen(
            [sys.executable, "-m", "app.main", "--directory", str(folder), "--port", "0", "-q"],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )
        port = int(re.search(r"port (\d+)", server.stdout.readline()).group(1))
        driver = browser()
        try:
            loads, filters, unfilters, sorts = [], [], [], []
            driver.set_script_timeout(600)
            smallest = min(range(arguments.entries), key=lambda number: ((number * 7919) % 200_000, f"file-{number:05d}.txt"))
            for _ in range(arguments.rounds):
                driver.get(f"http://localhost:{port}/files/")
                loads.append(load_time(driver))
                filters.append(driver.execute_async_script(FILTER, "file-1234"))
                unfilters.append(driver.execute_async_script(FILTER, ""))
                # The sort: from the click to the frame after the table is in the new order
                # (a new page from the server, or the rows moved in the page).
                started = time.perf_counter()
                driver.find_element(By.LINK_TEXT, "Size").click()
                while not driver.execute_async_script(SORTED, f"file-{smallest:05d}.txt"):
                    time.sleep(0.005)
                sorts.append((time.perf_counter() - started) * 1000)
            shown = len(driver.find_elements(By.CSS_SELECTOR, "#entries tr:not([hidden])"))
        finally:
            driver.quit()
            server.terminate()
    print(f"{arguments.entries} entries ({shown} rows shown after the last sort), medians of {arguments.rounds}:")
    for label, values in (
        ("page load (navigation start to load end)", loads),
        ("filter as you type ('file-1234': 10 rows left)", filters),
        ("filter cleared (every row shown again)", unfilters),
        ("sort by size (click to the frame after, wall clock)", sorts),
    ):
        print(f"  {label:<52} {statistics.median(values):8.1f} ms  (min {min(values):.1f}, max {max(values):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
