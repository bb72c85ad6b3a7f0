"""Masking of secrets and personal data in text bound for logs, traces and error reports.

API keys (Anthropic ``sk-ant-…`` and other ``sk-``/bearer tokens), email addresses, phone
numbers and payment-card numbers (Luhn-checked, so order numbers survive) are replaced
by a marker naming what was there. One pass of one regex: cheap enough for every log line.
"""

from __future__ import annotations

import re

from core.errors import KEY_CHARS

KEY, EMAIL, PHONE, CARD = "[key]", "[email]", "[phone]", "[card]"

# Order matters: keys before cards (a key may hold digit runs), cards before phones.
_PATTERN = re.compile(
    rf"(?P<key>\bsk-{KEY_CHARS}{{8,}}"
    r"|\b[Bb]earer\s+[A-Za-z0-9._~+/\-]{12,}=*)"
    r"|(?P<email>\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b)"
    r"|(?P<card>(?<![\d\-])\d(?:[ \-]?\d){12,18}(?![\d\-]))"
    r"|(?P<phone>(?<![\w+.])\+\d{7,15}(?!\d)|(?<![\w+.])\+?\(?\d{1,4}\)?(?:[ .\-]\(?\d{1,4}\)?|\(\d{1,4}\)){2,6}(?![\w.]))")
# Shapes that look like phone numbers but are not: dates and IPv4 addresses.
_NOT_PHONE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,3}(?:\.\d{1,3}){3}")


def luhn_ok(digits: str) -> bool:
    """True when the digit string passes the Luhn check that every card number carries."""
    total, odd = 0, False
    for ch in reversed(digits):
        d = int(ch)
        if odd:
            d = d * 2 - 9 if d > 4 else d * 2
        total, odd = total + d, not odd
    return total % 10 == 0


def _phone_like(text: str) -> bool:
    """At least 7 digits, and a shape (separators or a +) that a plain count or year lacks."""
    digits = sum(ch.isdigit() for ch in text)
    if _NOT_PHONE.fullmatch(text):
        return False
    return 7 <= digits <= 15 and (text.startswith("+") or any(ch in " .-()" for ch in text.strip()))


def _mask(m: re.Match) -> str:
    kind = m.lastgroup
    text = m.group()
    if kind == "key":
        return KEY
    if kind == "email":
        return EMAIL
    if kind == "card":
        digits = re.sub(r"\D", "", text)
        if luhn_ok(digits):
            return CARD
        return PHONE if _phone_like(text) else text
    return PHONE if _phone_like(text) else text


def redact(text: str) -> str:
    """``text`` with keys, emails, phone numbers and card numbers masked."""
    if not text:
        return text
    return _PATTERN.sub(_mask, text)


def redact_value(value):
    """Redact a string, or every string inside a dict/list/tuple (for structured payloads)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value
