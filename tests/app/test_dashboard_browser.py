"""The what-if page in a real browser: ``telesim dashboard`` driven by headless Chromium.

Starts the server on a free localhost port, opens the page with Playwright driving Debian's
Chromium (``/usr/bin/chromium``; Playwright's own browser download needs the network), lifts the
12-month known-patient rule, presses *Run to end-2021* and checks that the displayed 2019 total
changes (and rises), that the baseline column does not, and that every chart is a non-empty
image. It saves a screenshot and the measured time from pressing run to the updated chart in
``results/dashboard/``. Skipped only when no Chromium is installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "results" / "dashboard"
CHROMIUM = os.environ.get("TELESIM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHARTS = ("weekly", "cumulative", "doctors", "types", "regions")
SERVER_START_S = 120
PAGE_TIMEOUT_MS = 60_000
RUN_TIMEOUT_MS = 120_000

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(),
    reason=f"no Chromium at {CHROMIUM} (Debian package 'chromium'; .ci/run installs it)",
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(tmp_path):
    """``telesim dashboard`` on a free port; yields its URL and stops it afterwards."""
    port = _free_port()
    log_path = tmp_path / "server.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "dashboard", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the solara child goes with it
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dashboard exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"dashboard not serving after {SERVER_START_S} s:\n{log_path.read_text()}"
                )
            time.sleep(0.5)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def _chart_sizes(page) -> dict[str, list[int]]:
    """Natural width and height of every chart image (0 when missing or not loaded)."""
    return page.evaluate(
        """(names) => Object.fromEntries(names.map((n) => {
            const img = document.querySelector(`.chart-${n} img`);
            return [n, img && img.complete ? [img.naturalWidth, img.naturalHeight] : [0, 0]];
        }))""",
        list(CHARTS),
    )


def _acts(text: str) -> float:
    return float(text.split()[0].replace(",", ""))


def test_lifting_the_known_patient_rule_changes_the_2019_total(server):
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(server)
            total_2019 = page.locator('[data-testid="total-2019"]')
            total_2019.wait_for(timeout=PAGE_TIMEOUT_MS)
            page.wait_for_function(
                "(names) => names.every((n) => { const i = document.querySelector("
                "`.chart-${n} img`); return i && i.complete && i.naturalWidth > 0; })",
                arg=list(CHARTS),
                timeout=PAGE_TIMEOUT_MS,
            )
            before = total_2019.inner_text()
            baseline_before = page.locator('[data-testid="baseline-2019"]').inner_text()
            assert before == baseline_before  # the page opens on the baseline itself
            assert _acts(before) > 0

            # lift the 12-month known-patient rule (from the start: its last day is 15 Sep 2018)
            page.get_by_text("Lift the 12-month known-patient rule").click()
            page.get_by_text("known_patient_rule_until = 2018-09-15").wait_for(timeout=30_000)
            weekly_src = page.locator(".chart-weekly img").get_attribute("src")

            run = page.locator(".telesim-run")
            start = time.perf_counter()
            run.click()
            page.wait_for_function(
                """([old, oldSrc]) => {
                    const t = document.querySelector('[data-testid="total-2019"]');
                    const img = document.querySelector('.chart-weekly img');
                    return t && t.innerText !== old && img && img.getAttribute('src') !== oldSrc
                        && img.complete && img.naturalWidth > 0;
                }""",
                arg=[before, weekly_src],
                timeout=RUN_TIMEOUT_MS,
                polling="raf",
            )
            seconds = time.perf_counter() - start
            # the other charts are replaced one by one after the weekly one: wait for them all
            # (under load a chart could still be loading when the weekly one was done)
            page.wait_for_function(
                "(names) => names.every((n) => { const i = document.querySelector("
                "`.chart-${n} img`); return i && i.complete && i.naturalWidth > 0; })",
                arg=list(CHARTS),
                timeout=PAGE_TIMEOUT_MS,
            )

            after = total_2019.inner_text()
            assert after != before
            assert _acts(after) > _acts(before)  # lifting a restriction adds acts
            assert page.locator('[data-testid="baseline-2019"]').inner_text() == baseline_before
            sizes = _chart_sizes(page)
            assert all(w > 200 and h > 100 for w, h in sizes.values()), sizes
            assert "ran to 31 Dec 2021" in page.locator(".telesim-last-run").inner_text()

            run.wait_for(state="visible")
            page.wait_for_function(
                "() => !document.querySelector('.telesim-run').disabled", timeout=RUN_TIMEOUT_MS
            )
            page.screenshot(path=str(OUT / "dashboard.png"), full_page=False)
            record = {
                "seconds_from_run_click_to_updated_chart": round(seconds, 2),
                "total_2019_before": before,
                "total_2019_after": after,
                "page_timing_note": page.locator(".telesim-last-run").inner_text(),
                "chart_sizes": sizes,
            }
            (OUT / "browser_test.json").write_text(json.dumps(record, indent=2) + "\n")
            print(
                f"\nrun click -> updated 2019 total and chart: {seconds:.2f} s; {before} -> {after}"
            )
        finally:
            browser.close()
