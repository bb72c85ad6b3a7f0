"""Prompt templates with ``{{column}}`` variables, rendered once per input row."""

from __future__ import annotations

import re
from collections.abc import Mapping

from core.errors import ValidationError

# {{ name }}: a column name of letters, digits, spaces, _ - . (spaces around it are ignored)
_VAR = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
MAX_TEMPLATE_CHARS = 100_000


def _check(template) -> str:
    if not isinstance(template, str) or not template.strip():
        raise ValidationError("The prompt template is empty: write a prompt, with {{column}} for each row's values.",
                              field="template")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise ValidationError(f"The prompt template is longer than {MAX_TEMPLATE_CHARS:,} characters.",
                              field="template")
    return template


def columns(template: str) -> list[str]:
    """The variables the template uses, in order of first use, each once."""
    seen: dict[str, None] = {}
    for name in _VAR.findall(_check(template)):
        seen.setdefault(name, None)
    return list(seen)


def check_columns(template: str, available) -> None:
    """Refuse a template using a column the file does not have (ValidationError listing the file's columns)."""
    have = list(available)
    missing = [c for c in columns(template) if c not in have]
    if missing:
        names = ", ".join(f"{{{{{m}}}}}" for m in missing)
        listed = ", ".join(have) if have else "(none)"
        raise ValidationError(f"The template uses {names}, which the file has no column for. "
                              f"The file's columns: {listed}.", field="template")


def render(template: str, row: Mapping) -> str:
    """The template with every ``{{column}}`` replaced by the row's value (None as empty text)."""
    check_columns(template, row.keys())

    def value(m: re.Match) -> str:
        v = row[m.group(1)]
        return "" if v is None else str(v)

    return _VAR.sub(value, template)
