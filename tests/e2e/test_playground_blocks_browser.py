"""The playground in a real browser: a two-turn tool loop, and a question about an uploaded PDF with citations.

Screenshots go to tests/e2e/output/ (playground-tool-loop.png, playground-pdf.png); they show no secret
(they are taken after the login, whose page is the only one naming the demo password).
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.test_console_browser import WAIT, demo_console, demo_login, shot
from tests.media import pdf

pytestmark = pytest.mark.browser
RESULT = "18 degrees and sunny"


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """The console in demo mode with a fresh ledger and no users file (fast simulator)."""
    with demo_console(tmp_path_factory, "playground", ttft_s="0.05", tokens_per_s="200") as url:
        yield url


def logged_in(browser, console):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(console)
    demo_login(page, "analyst")
    return page


def unfold(page, title: str, inside: str):
    """Open an expander (a click may land while the page still draws: try again) and return what is inside."""
    target = page.get_by_text(inside, exact=True)
    for _ in range(5):
        page.get_by_text(title, exact=True).click()
        try:
            target.wait_for(state="visible", timeout=3000)
            return target
        except Exception:  # noqa: BLE001 - Playwright's timeout: the click was lost, click again
            continue
    raise AssertionError(f"{title} did not open")


def ask(page, text: str) -> None:
    """Type a message, look at its quote, send it."""
    settled(page)
    page.get_by_test_id("stChatInputTextArea").fill(text)
    page.keyboard.press("Enter")
    page.get_by_text("Ready to send").wait_for(timeout=WAIT)
    page.get_by_role("button", name="Send", exact=True).click()


def settled(page) -> None:
    """Wait until the page's script has finished (elements of the previous draw are gone)."""
    time.sleep(0.3)
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=WAIT)
    time.sleep(0.3)


def no_exception(page) -> None:
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()


def test_a_two_turn_tool_loop(console, browser):
    page = logged_in(browser, console)
    unfold(page, "Tools and thinking", "Offer tools").click()
    assert page.get_by_test_id("stAlertContentError").count() == 0
    ask(page, "What is the weather in Paris? Use get_weather.")
    page.get_by_role("button", name="Send tool result").wait_for(timeout=WAIT)  # the form for its result
    time.sleep(0.5)  # the page has finished drawing
    call = page.get_by_test_id("stExpander").filter(has_text="Tool call: get_weather")
    call.get_by_text("Tool call: get_weather").click()  # unfold it: the input the model chose, as JSON
    shown = call.get_by_test_id("stJson")
    shown.wait_for(timeout=WAIT)
    assert "city" in shown.inner_text()
    shot(page, "playground-tool-call")
    box = page.get_by_test_id("stTextArea").filter(has_text="Result of get_weather").locator("textarea")
    box.fill(RESULT)
    page.get_by_role("button", name="Send tool result").click()  # the click itself commits the text
    page.get_by_text("Ready to send").wait_for(timeout=WAIT)
    page.get_by_role("button", name="Send", exact=True).click()
    answer = page.get_by_test_id("stChatMessage").filter(has_text=RESULT).last
    answer.wait_for(timeout=WAIT)
    deadline = time.monotonic() + WAIT / 1000
    while time.monotonic() < deadline and page.get_by_text("request req_").count() < 2:
        time.sleep(0.2)
    settled(page)
    assert page.get_by_text("request req_").count() == 2, "each answer has its cost caption"
    assert page.get_by_test_id("stChatMessage").count() == 4  # question, tool call, tool result, answer
    no_exception(page)
    shot(page, "playground-tool-loop")
    page.close()


def test_a_question_about_an_uploaded_pdf_is_answered_with_citations(console, browser, tmp_path):
    page = logged_in(browser, console)
    report = tmp_path / "budgets.pdf"
    report.write_bytes(pdf(["Tollgate guards every call.", "Budgets are reserved before sending."]))
    unfold(page, "Attach images or PDFs", "Cite sources (PDFs)").click()
    page.locator("input[type=file]").set_input_files(str(report))
    page.get_by_text("budgets.pdf").first.wait_for(timeout=WAIT)
    settled(page)  # the upload reran the page: type once it has finished
    page.get_by_test_id("stChatInputTextArea").fill("When are budgets reserved?")
    page.keyboard.press("Enter")
    page.get_by_text("Ready to send").wait_for(timeout=WAIT)
    page.get_by_text("(2 pages): about 3,200 input tokens").wait_for(timeout=WAIT)  # the file, in the quote
    page.get_by_role("button", name="Send", exact=True).click()
    page.get_by_text("request req_").wait_for(timeout=WAIT)
    cite = page.get_by_text("budgets.pdf, page")
    cite.first.wait_for(timeout=WAIT)
    assert page.get_by_text("Attached document: budgets.pdf · cite sources").count() >= 1
    no_exception(page)
    shot(page, "playground-pdf")
    page.close()
