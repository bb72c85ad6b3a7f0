"""In Chromium, a user id with <a href> is a live link in a Plotly bar chart's labels unless plotly_safe escaped it."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import pytest

from core.render import plotly_safe
from tests.e2e.test_console_browser import CHROMIUM, _need_browser

pytestmark = pytest.mark.browser
EVIL = '<a href="https://evil.example/phish">Payroll</a>'


def _links_and_labels(tmp_path, fig) -> tuple[list[str], list[str]]:
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "chart.html"
    fig.write_html(page_file, include_plotlyjs=True, full_html=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(page_file.as_uri())
        page.locator(".main-svg .xtick").first.wait_for(timeout=30_000)
        links = page.locator(".main-svg a").evaluate_all("els => els.map(e => e.getAttribute('xlink:href') || e.href)")
        labels = page.locator(".main-svg .xtick text").all_text_contents()
        browser.close()
    return links, labels


def test_an_escaped_user_id_is_text_in_the_chart_and_a_raw_one_is_a_link(tmp_path):
    _need_browser()
    frame = pd.DataFrame({"user": [EVIL, "bob"], "spend_usd": [3.0, 1.0]})
    links, _ = _links_and_labels(tmp_path, px.bar(frame, x="user", y="spend_usd"))
    assert links  # the threat is real: Plotly renders the user id's <a href> as a link
    links, labels = _links_and_labels(tmp_path, plotly_safe(px.bar(frame, x="user", y="spend_usd")))
    assert links == [] and EVIL in labels  # shown literally, not as a link
