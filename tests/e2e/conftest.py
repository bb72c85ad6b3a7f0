"""Fixtures the browser tests share: one Chromium a module, started once the module's console is up."""

from __future__ import annotations

import pytest

from tests.e2e.test_console_browser import chromium


@pytest.fixture(scope="module")
def browser(console):
    """The system's Chromium for this module, after its ``console`` fixture (each module defines its own)."""
    with chromium() as b:
        yield b
