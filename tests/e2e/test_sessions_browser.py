"""Logins in a real browser: they survive a reload and a new tab, end on log-out or an account change,
forged or malformed cookies read as logged out, and no other site can frame the console."""

from __future__ import annotations

import http.server
import threading
import time
import urllib.request
from contextlib import contextmanager

import jwt
import pytest

from core.accounts.users import UserStore
from tests.e2e.test_console_browser import WAIT, _need_browser, chromium, running_console

pytestmark = pytest.mark.browser
KEY = "test-only-cookie-key-" + "x" * 48  # a fake, long enough to be accepted
PASSWORD = "correct-horse-battery"  # test accounts only
USERS = ["ana", "ben", "cleo", "dina"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`streamlit run server.py` on a free port with a known cookie key and four analyst accounts."""
    _need_browser()
    tmp = tmp_path_factory.mktemp("sessions")
    store = UserStore(tmp / "users.yaml")
    for name in USERS:
        store.add(name, name.title(), "analyst", PASSWORD, rounds=4)
    with running_console(TOLLGATE_LEDGER_URL=f"duckdb:///{tmp / 'ledger.duckdb'}",
                         TOLLGATE_SPOOL_PATH=str(tmp / "spool"), TOLLGATE_USERS_FILE=str(store.path),
                         TOLLGATE_COOKIE_KEY=KEY, TOLLGATE_SIM_TTFT_S="0") as url:
        yield url, store


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as b:
        yield b


def log_in(page, url: str, user: str) -> None:
    page.goto(url)
    page.get_by_label("Username").fill(user)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Login").click()
    page.get_by_role("heading", name="Playground").wait_for(timeout=WAIT)


@contextmanager
def logged_in(browser, url: str, user: str, **context_options):
    """A fresh browser context (cookies of its own) with ``user`` logged in: (context, page); closed after."""
    context = browser.new_context(**context_options)
    try:
        page = context.new_page()
        log_in(page, url, user)
        yield context, page
    finally:
        context.close()


def wait_for_cookie(context, name: str = "tollgate_session", timeout_s: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [c for c in context.cookies() if c["name"] == name]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no {name} cookie; cookies: {[c['name'] for c in context.cookies()]}")


def shows_login(page) -> bool:
    """The login form is up and the page it replaced is gone (Streamlit clears stale elements a moment later)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.get_by_role("button", name="Login").wait_for(timeout=WAIT)
    try:
        page.get_by_role("heading", name="Playground").wait_for(state="detached", timeout=WAIT)
    except PlaywrightTimeout:
        return False
    return True


def test_a_login_survives_a_reload_and_a_new_tab_and_log_out_ends_it(server, browser):
    url, _ = server
    with logged_in(browser, url, "ana", viewport={"width": 1400, "height": 1000}) as (context, page):
        cookie = wait_for_cookie(context)
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > time.time() + 3600
        page.reload()
        page.get_by_role("heading", name="Playground").wait_for(timeout=WAIT)
        assert page.get_by_role("button", name="Login").count() == 0
        tab = context.new_page()
        tab.goto(url + "/usage")  # a bookmark or shared deep link
        tab.get_by_role("heading", name="Usage & cost").wait_for(timeout=WAIT)
        assert "Ana · ana · analyst" in tab.get_by_test_id("stSidebar").inner_text()  # who, from the cookie
        assert tab.get_by_role("button", name="Login").count() == 0
        tab.get_by_role("button", name="Log out").click()
        assert shows_login(tab)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(c["name"] == "tollgate_session" for c in context.cookies()):
            time.sleep(0.2)
        assert not any(c["name"] == "tollgate_session" for c in context.cookies()), "log-out left the cookie"
        page.reload()
        assert shows_login(page)


def test_a_password_change_ends_a_login_held_in_the_cookie(server, browser):
    url, store = server
    with logged_in(browser, url, "ben") as (context, page):
        wait_for_cookie(context)
        store.set_password("ben", "an-admin-set-new-password")  # e.g. `python -m core user passwd ben`
        page.reload()
        assert shows_login(page)


def test_a_role_change_ends_an_open_page_at_its_next_click(server, browser):
    url, store = server
    with logged_in(browser, url, "dina") as (_, page):
        store.set_role("dina", "admin")  # e.g. `python -m core user role dina admin`: log in again to get it
        page.get_by_role("link", name="Models & prices").click()
        assert shows_login(page)
        page.get_by_text("Your login has ended").wait_for(timeout=WAIT)  # drawn with the form, a moment after it
        assert page.get_by_text("Your login has ended").count() == 1
        assert page.get_by_role("link", name="Users & budgets").count() == 0


def _forgeries() -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": "cleo", "ver": 0, "typ": "session", "iat": now, "exp": now + 3600}
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    body = jwt.utils.base64url_encode(jwt.api_jws.json.dumps(claims).encode()).decode()
    return {"alg-none": f"{header}.{body}.", "hs512": jwt.encode(claims, KEY, algorithm="HS512"),
            "no-exp": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, KEY, algorithm="HS256"),
            "garbage": "not.a.jwt%%%"}


@pytest.mark.parametrize("kind", ["alg-none", "hs512", "no-exp", "garbage"])
def test_a_forged_or_malformed_cookie_reads_as_logged_out(server, browser, kind):
    url, _ = server
    context = browser.new_context()
    value = _forgeries()[kind]
    host = url.split("//")[1].split(":")[0]
    # Under Tollgate's cookie name and under the name streamlit-authenticator used before.
    context.add_cookies([{"name": n, "value": value, "domain": host, "path": "/"}
                         for n in ("tollgate_session", "tollgate_auth")])
    page = context.new_page()
    page.goto(url + "/usage")
    assert shows_login(page)
    page.get_by_label("Username").wait_for(timeout=WAIT)
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_test_id("stAlertContentError").count() == 0
    context.close()


def test_every_response_forbids_framing_and_sniffing(server):
    url, _ = server
    for path in ("/", "/usage", "/healthz", "/readyz", "/_stcore/health"):
        try:
            resp = urllib.request.urlopen(url + path, timeout=10)
        except urllib.error.HTTPError as exc:  # /readyz may answer 503; its headers count too
            resp = exc
        h = resp.headers
        assert h["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"], path
        assert h["X-Content-Type-Options"] == "nosniff", path
        assert h["Referrer-Policy"] == "no-referrer", path


def test_another_site_cannot_frame_the_login_page(server, browser):
    url, _ = server
    page_html = f'<html><body><iframe id="f" src="{url}/" width="800" height="600"></iframe></body></html>'

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.end_headers()
            self.wfile.write(page_html.encode())

        def log_message(self, *args):
            pass

    evil = http.server.ThreadingHTTPServer(("localhost", 0), Evil)  # another origin: localhost, not 127.0.0.1
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        page = browser.new_page()
        page.goto(f"http://localhost:{evil.server_address[1]}/")
        time.sleep(3)  # give a framed console time to draw, if the browser let it
        frame = next((f for f in page.frames if f.url.startswith(url)), None)
        drawn = 0 if frame is None else frame.locator("button").count()
        assert drawn == 0, "the console's login drew inside another origin's frame"
        page.close()
    finally:
        evil.shutdown()
