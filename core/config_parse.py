"""How a setting's text becomes its value (one parser per kind), and ``var``, which declares a setting.

Kept apart from ``core.config`` so that file stays the list of variables. Each parser raises
ValueError on text it cannot read; ``PARSE_RULES`` says, per parser, what the value should have been.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field


def as_bool(raw: str) -> bool:
    """1/0, true/false, yes/no, on/off (any case; empty is false)."""
    val = raw.strip().lower()
    if val in {"1", "true", "yes", "on"}:
        return True
    if val in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean (1/0, true/false), got {raw!r}")


def ints(raw: str) -> tuple[int, ...]:
    """Comma-separated whole numbers, e.g. alert thresholds ``50,80,100``."""
    return tuple(int(p) for p in raw.replace(" ", "").split(",") if p)


def opt_int(raw: str) -> int | None:
    """A whole number, or None (no limit) for empty or ``none``."""
    # "0" is read as 0 (and refused by the checks), never as "no limit": that is spelt empty or "none".
    return None if raw.strip().lower() in {"", "none"} else int(raw)


def opt_float(raw: str) -> float | None:
    """A number, or None (off) for empty, ``none``, ``off`` or ``0``."""
    return None if raw.strip().lower() in {"", "none", "off", "0"} else float(raw)


def opt_str(raw: str) -> str | None:
    """The text stripped, or None when nothing is left."""
    return raw.strip() or None


# What a value that fails to parse should have been, per parser (others quote the parser's own message).
PARSE_RULES = {float: "must be a number", int: "must be a whole number", Decimal: "must be a decimal number",
               opt_int: "must be a whole number ≥ 1, or empty for no limit",
               ints: "must be comma-separated whole numbers"}


def var(env: str, default, doc: str, parse=str, *, secret: bool = False):
    """Declare a setting: its variable, default, one-line doc and parser (a secret is never shown)."""
    meta = {"env": env, "doc": doc, "parse": parse, **({"secret": True} if secret else {})}
    return Field(default=default, validation_alias=env, repr=not secret, json_schema_extra=meta)
