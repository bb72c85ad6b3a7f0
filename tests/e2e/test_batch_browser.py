"""The batch page in a real browser: upload a 20-row CSV, preview, quote, submit in batch mode, watch the progress
reach the end, see the results and download them (formula-safe).

Screenshots go to tests/e2e/output/ (batch-quote.png, batch-progress.png, batch-results.png).
"""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path

import pytest

from tests.e2e.test_console_browser import WAIT, demo_login, running_console, shot
from tests.e2e.test_console_browser import _need_browser as need_browser

pytestmark = pytest.mark.browser
ROWS = 20


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """The console in demo mode, a fresh ledger, its simulator's batches ending after 2 s."""
    need_browser()
    tmp = tmp_path_factory.mktemp("batch")
    with running_console(TOLLGATE_LEDGER_URL=f"duckdb:///{tmp / 'ledger.duckdb'}",
                         TOLLGATE_SPOOL_PATH=str(tmp / "spool"), TOLLGATE_USERS_FILE=str(tmp / "users.yaml"),
                         TOLLGATE_SIM_TTFT_S="0", TOLLGATE_SIM_TOKENS_PER_S="0", TOLLGATE_SIM_BATCH_SECONDS="2",
                         TOLLGATE_BATCH_POLL_S="0.5") as url:
        yield url


def settled(page) -> None:
    """Wait until the page's script has finished (elements of the previous draw are gone)."""
    time.sleep(0.3)
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=WAIT)
    time.sleep(0.3)


def test_a_20_row_csv_end_to_end_in_batch_mode(console, browser, tmp_path):
    from playwright.sync_api import expect

    data = tmp_path / "tickets.csv"
    data.write_text("ticket,customer\n" + "".join(f"Ticket {i}: the printer is on fire,=cust-{i}\n"
                                                   for i in range(ROWS)))
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.goto(console)
    demo_login(page, "analyst")
    page.get_by_role("link", name="Batch runs").click()
    page.get_by_role("heading", name="Batch runs").wait_for(timeout=WAIT)
    page.locator("input[type=file]").set_input_files(str(data))
    page.get_by_text(f"{ROWS} rows").first.wait_for(timeout=WAIT)
    settled(page)
    box = page.get_by_label("Prompt template")
    for _ in range(5):  # insert the column into the template (a click while the page still draws may be lost)
        page.get_by_role("button", name="{{ticket}}").click()
        try:
            expect(box).to_have_value("{{ticket}}", timeout=5000)
            break
        except AssertionError:
            assert box.input_value() == "", box.input_value()  # lost, not doubled: click again
    expect(box).to_have_value("{{ticket}}")
    settled(page)
    box.fill("Summarise in five words: {{ticket}}")
    box.press("Control+Enter")  # commit the text area
    page.get_by_text("Summarise in five words: Ticket 0: the printer is on fire").wait_for(timeout=WAIT)
    settled(page)
    assert page.get_by_text("Rows that fit").count() == 1 and page.get_by_text("Batch price (worst case)").count() == 1
    shot(page, "batch-quote")
    submit = page.get_by_role("button", name=f"Submit {ROWS} rows (batch mode)")
    submit.click()
    # Right after submitting: the run is in progress, every row pending, the bar drawn by the fragment.
    page.get_by_text(re.compile(rf"in progress: 0 succeeded · 0 failed · {ROWS} pending")).wait_for(timeout=WAIT)
    shot(page, "batch-progress")

    # The fragment redraws the bar; the run ends in the simulator after 2 s and the poller collects it.
    page.get_by_role("button", name="Download CSV").wait_for(timeout=90_000)
    settled(page)
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_text(f"{ROWS} succeeded").count() >= 1
    grid = page.get_by_test_id("stDataFrame").last
    grid.wait_for(timeout=WAIT)
    shot(page, "batch-results")

    with page.expect_download(timeout=WAIT) as dl:
        page.get_by_role("button", name="Download CSV").click()
    text = Path(dl.value.path()).read_text(encoding="utf-8")
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == ROWS and [r["row"] for r in table] == [str(i) for i in range(1, ROWS + 1)]
    assert all(r["outcome"] == "succeeded" and r["output"] for r in table)
    assert table[3]["customer"] == "'=cust-3"  # row 4  # a cell that would run as a formula is quoted
    page.reload()  # the run is found again from the ledger
    page.get_by_role("button", name="Download CSV").wait_for(timeout=WAIT)
    page.close()
