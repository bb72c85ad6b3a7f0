"""The console in a real browser: start it as `make run` does (demo mode), log in, chat, see charts.

Screenshots of every page are saved under tests/e2e/output/ (git-ignored) for a human to look at.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path(__file__).resolve().parent / "output"
CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser
WAIT = 30_000  # ms


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


@contextlib.contextmanager
def running_console(**env_extra: str) -> Iterator[str]:
    """`streamlit run server.py` on a free port, without the caller's ANTHROPIC_/TOLLGATE_ settings but
    ``env_extra``; yields its URL once it answers, and stops it afterwards."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "TOLLGATE_"))}
    env.update(env_extra)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(port),
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
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def chromium() -> Iterator:
    """The system's Chromium driven by Playwright, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield b
        finally:
            b.close()


@contextlib.contextmanager
def demo_console(tmp_path_factory, name: str, *, ttft_s: str, tokens_per_s: str) -> Iterator[str]:
    """The console in demo mode with a fresh ledger and no users file, its simulator at that pace (seconds
    to the first token, tokens a second); yields its URL."""
    _need_browser()
    tmp = tmp_path_factory.mktemp(name)
    with running_console(TOLLGATE_LEDGER_URL=f"duckdb:///{tmp / 'ledger.duckdb'}",
                         TOLLGATE_SPOOL_PATH=str(tmp / "spool"), TOLLGATE_USERS_FILE=str(tmp / "users.yaml"),
                         TOLLGATE_SIM_TTFT_S=ttft_s, TOLLGATE_SIM_TOKENS_PER_S=tokens_per_s) as url:
        yield url


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """The console in demo mode, its simulator slow enough to watch a reply stream."""
    with demo_console(tmp_path_factory, "console", ttft_s="0.3", tokens_per_s="40") as url:
        yield url


def demo_login(page, user: str) -> None:
    """Log in on the page's login form as a demo account (password tollgate-demo); back once the playground shows."""
    page.get_by_label("Username").fill(user)
    page.get_by_role("textbox", name="Password").fill("tollgate-demo")
    page.get_by_role("button", name="Login").click()
    page.get_by_role("heading", name="Playground").wait_for(timeout=WAIT)


def laid_out(page) -> None:
    """Until the browser has laid the page out at its present size: two animation frames (a resize's
    observers run in the first, the layout they cause is drawn by the second), then a beat for debounced ones."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    time.sleep(0.15)


def script_done(page) -> None:
    """Until the page's script has finished its run: Streamlit marks its root ``data-test-script-state``
    ``notRunning`` once the last element of the run is drawn, so an exception it raised is on the page by then."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=WAIT)
    laid_out(page)


def shot(page, name: str) -> None:
    """Save the whole page: Streamlit scrolls inside its main area, so the window is made as tall as it."""
    OUTPUT.mkdir(exist_ok=True)
    size = page.viewport_size
    tall = page.evaluate("""() => {
        const boxes = [...document.querySelectorAll('[data-testid="stMain"], [data-testid="stAppScrollToBottomContainer"]')];
        boxes.forEach(b => b.scrollTo(0, 0));
        return Math.max(document.body.scrollHeight, ...boxes.map(b => b.scrollHeight)); }""")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(tall), 8000))})
    laid_out(page)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)


def test_the_first_visit_to_any_page_shows_only_the_login(console, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(console + "/admin")  # the server's very first session asks for an admin page directly
    page.get_by_role("button", name="Login").wait_for(timeout=WAIT)
    page.get_by_text("Demo accounts").wait_for(timeout=WAIT)  # drawn just after the form: no race
    assert page.get_by_text("Users & budgets").count() == 0
    assert page.get_by_text("Demo accounts").count() == 1
    shot(page, "0-login")
    page.close()


def test_log_in_chat_with_a_streamed_answer_then_see_usage_charts(console, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(console)
    demo_login(page, "admin")

    page.get_by_test_id("stChatInputTextArea").fill("Explain a circuit breaker in one paragraph.")
    page.keyboard.press("Enter")
    page.get_by_text("Ready to send").wait_for(timeout=WAIT)
    assert "input tokens" in page.get_by_text("up to $").first.inner_text()
    shot(page, "1-playground-quote")
    page.get_by_role("button", name="Send", exact=True).click()

    answer = page.get_by_test_id("stChatMessage").nth(1)
    answer.wait_for(timeout=WAIT)
    seen = []  # the answer's length while it arrives: it must grow, not appear all at once
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and page.get_by_text("request req_").count() == 0:
        seen.append(len(answer.inner_text()))
        time.sleep(0.1)
    assert page.get_by_text("request req_").count() == 1, "no cost caption after the answer"
    grown = sorted(set(n for n in seen if n > 0))
    assert len(grown) >= 3, f"the answer did not stream: lengths seen {grown}"
    caption = page.get_by_text("request req_").inner_text()
    assert "$" in caption and " out" in caption and "first token" in caption
    # The sidebar's spend is read after the page ran: the call just made is in it.
    metric = page.get_by_test_id("stSidebar").get_by_test_id("stMetricValue").first
    deadline = time.monotonic() + 10  # the page's script may still be drawing below the answer
    while time.monotonic() < deadline and metric.inner_text() == "$0.00":
        time.sleep(0.2)
    spent = metric.inner_text()
    assert spent == caption.split(" · ")[0] and spent != "$0.00", (spent, caption)
    shot(page, "2-playground-answer")

    page.get_by_role("link", name="Usage & cost").click()
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.wait_for(timeout=WAIT)
    chart.locator(".main-svg").first.wait_for(timeout=WAIT)  # plotly drew it
    assert chart.bounding_box()["height"] > 100
    shot(page, "3-usage")

    for link, name, marker in [("Models & prices", "4-models", "Calculator"), ("Health", "5-health", "Overall"),
                               ("Checklist", "6-checklist", "Checklist"),
                               ("Users & budgets", "7-admin", "Accounts")]:
        page.get_by_role("link", name=link).click()
        page.get_by_text(marker).first.wait_for(timeout=WAIT)
        script_done(page)  # the page has drawn all it will (an exception included) before it is checked
        assert page.get_by_test_id("stException").count() == 0, f"{link} shows an exception"
        shot(page, name)
    page.close()


def test_the_favicon_is_served_by_the_console_itself(console, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((console, "data:")) else None)
    page.goto(console)
    page.get_by_role("button", name="Login").wait_for(timeout=WAIT)
    time.sleep(1)  # the favicon is set once the page config arrives
    icon = page.eval_on_selector("link[rel='shortcut icon']", "e => e.href")
    assert icon.startswith((console, "data:")), icon
    assert not outside, outside  # nothing is fetched from another host (works offline)
    page.close()


PAGES = [("Playground", "playground", "Playground"), ("Models & prices", "models", "Calculator"),
         ("Usage & cost", "usage", "Most expensive calls"), ("Health", "health", "Overall"),
         ("Checklist", "checklist", "Checklist"), ("Users & budgets", "admin", "Accounts")]


def test_every_page_at_desktop_and_phone_width(console, browser):
    """Screenshots of each page at 1440 and 390 px wide (tests/e2e/output/NAME-1440.png, NAME-390.png)."""
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.goto(console)
    page.get_by_role("button", name="Login").wait_for(timeout=WAIT)
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 1000 if width > 800 else 844})
        laid_out(page)
        shot(page, f"login-{width}")
    page.set_viewport_size({"width": 1440, "height": 1000})
    demo_login(page, "admin")
    page.get_by_role("link", name="Users & budgets").click()
    page.get_by_role("button", name="Fill the ledger with demo data").click()
    page.get_by_text("demo calls.").wait_for(timeout=60_000)
    for link, name, marker in PAGES:
        page.set_viewport_size({"width": 1440, "height": 1000})
        page.get_by_role("link", name=link).click()
        page.get_by_text(marker).first.wait_for(timeout=WAIT)
        if name == "usage":
            page.get_by_test_id("stPlotlyChart").first.locator(".main-svg").first.wait_for(timeout=WAIT)
        for width in (1440, 390):
            page.set_viewport_size({"width": width, "height": 1000 if width > 800 else 844})
            script_done(page)  # the page's run is over and charts and tables re-laid themselves out
            assert page.get_by_test_id("stException").count() == 0, f"{link} shows an exception"
            shot(page, f"{name}-{width}")
    page.close()
