"""The console's pages go through one door (core.console.door): no engine, clock, settings, ledger or budget book."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([*(ROOT / "pages").glob("*.py"), ROOT / "app.py"])
REACH = re.compile(r"\.engine|\.clock|\.settings|\.ledger|\.budgets|ledger\.|budget_gate|queries\.")
# Core modules that touch stores or the network: a page reaches them only through the door.
BEHIND_THE_DOOR = re.compile(r"^\s*(from|import) core\.(accounts\.admin|accounts\.lockout|budgets|checklist\.store|"
                             r"checklist\.facts|factory|health\.report|client\.quote|reports\.demo_data|ledger|clock|"
                             r"types|batches)\b|^\s*from core\.(accounts import (admin|lockout)|checklist import (store|facts)|"
                             r"health import report|client import quote|reports import demo_data)\b|^\s*from core import batches\b", re.M)


def test_there_are_pages_to_check():
    assert {p.name for p in PAGES} >= {"app.py", "widgets.py", "usage.py", "admin.py", "health.py"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_a_page_never_reaches_into_the_client(page):
    found = [f"{page.name}:{n}: {line.strip()}" for n, line in enumerate(page.read_text().splitlines(), 1)
             if REACH.search(line)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_a_page_imports_no_store_touching_core_module(page):
    found = [m.group(0).strip() for m in BEHIND_THE_DOOR.finditer(page.read_text())]
    assert not found, f"{page.name} imports {found}: call the door (core.console.door.Console) instead"


def test_core_console_imports_no_streamlit():
    source = (ROOT / "core" / "console" / "door.py").read_text()
    assert not re.search(r"^\s*(import|from)\s+(streamlit|pages)\b", source, re.M)
