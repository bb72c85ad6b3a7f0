"""The console in a real browser: start `streamlit run app.py` in demo mode, ask a question, see its cost."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser


def _need_browser():
    missing = []
    if not os.path.exists(CHROMIUM):
        missing.append(f"Chromium ({CHROMIUM}; apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if missing:
        msg = "browser tests need " + " and ".join(missing)
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(msg + " and REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    _need_browser()
    tmp = tmp_path_factory.mktemp("console")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env.update(TOLLGATE_LEDGER_URL=f"duckdb:///{tmp / 'ledger.duckdb'}", TOLLGATE_SPOOL_PATH=str(tmp / "spool"),
               TOLLGATE_SIM_TTFT_S="0.05", TOLLGATE_SIM_TOKENS_PER_S="400")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true", "--server.address", "127.0.0.1"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).status == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("the console did not start: " + proc.stdout.read().decode(errors="replace")[-2000:])
    yield url, tmp
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def page(console):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield pg
        browser.close()


def test_ask_in_the_browser_shows_the_answer_and_its_cost(console, page):
    url, tmp = console
    page.goto(url)
    page.get_by_text("Demo mode").wait_for(timeout=30_000)
    page.get_by_label("Prompt", exact=True).fill("Explain a circuit breaker in one paragraph.")
    page.get_by_role("button", name="Send").click()
    cost = page.get_by_test_id("stMetric").filter(has_text="Cost")
    cost.wait_for(timeout=30_000)
    assert "$" in cost.inner_text()
    page.screenshot(path=str(tmp / "playground.png"), full_page=True)


def test_health_page_in_the_browser(console, page):
    url, _ = console
    page.goto(url + "/health")
    page.get_by_text("healthy").first.wait_for(timeout=30_000)
