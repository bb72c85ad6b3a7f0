"""Secrets out of text: API keys masked in every message, passwords out of URLs.

Every typed error's message passes through ``scrub`` (core.errors); logs, the ledger's error text and
the checklist's scans use the same matchers.
"""

from __future__ import annotations

import re

KEY_CHARS = r"[A-Za-z0-9_\-]"  # the alphabet after a key's prefix: every key matcher shares it


def key_pattern(min_chars: int = 4, prefix: str = "sk-ant-") -> re.Pattern:
    """A key-shaped run: ``prefix`` then ``min_chars`` or more key characters (scrub masks from 4, scans report from 20)."""
    return re.compile(rf"{re.escape(prefix)}{KEY_CHARS}{{{min_chars},}}")


KEY_SHAPED = key_pattern()
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")  # scheme://user:PASSWORD@ (user may be empty)


def scrub(text: str) -> str:
    """Replace anything that looks like an Anthropic key with a masked marker."""
    return KEY_SHAPED.sub("sk-ant-…[redacted]", text)


def mask_url_passwords(text: str) -> str:
    """Every ``scheme://user:password@`` in ``text`` with the password replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\1***@", text)
