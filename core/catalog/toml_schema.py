"""Strict TOML data files on pydantic: any refusal is one DataFileError naming the file and the field.

The price table and the model catalogue are read through pydantic models with unknown
fields refused and no coercion (a string is not an integer, a float is not an exact price);
pydantic's error list is translated here, once, into a line an operator can act on.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic import ValidationError as PydanticError

from core.errors import DataFileError


class Strict(BaseModel):
    """One TOML table: unknown fields refused, values never coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _exact_decimal(value: Any) -> Decimal:
    """An exact, finite, non-negative Decimal from a TOML string or integer (a float is not exact)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        hint = ' (write it as a string, e.g. "0.125", so it stays exact)' if isinstance(value, float) else ""
        raise ValueError(f"expected a decimal string, got {value!r}{hint}")
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not d.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if d < 0:
        raise ValueError(f"negative price {value!r}")
    return d


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return value


ExactDecimal = Annotated[Decimal, BeforeValidator(_exact_decimal)]
Text = Annotated[str, BeforeValidator(_text)]
PositiveInt = Annotated[int, BeforeValidator(_positive_int)]


def read_toml(text: str, origin: str) -> dict:
    """Parse TOML text; a syntax error is a DataFileError naming ``origin``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(origin, "", f"not valid TOML: {exc}") from None


def _where(raw: Any, loc: tuple, label: Callable[[dict], str] | None) -> str:
    """``prices[1] (model @ date).band.input`` from pydantic's location of an error."""
    out, node = "", raw
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if label is not None and isinstance(node, dict):
                out += f" ({label(node)})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out


def _message(err: dict) -> str:
    if err["type"] == "value_error":
        return str(err["ctx"]["error"])
    return f"{err['msg'][0].lower()}{err['msg'][1:]}, got {err['input']!r}"


def check(model: type[BaseModel], raw: Any, origin: str, *, label: Callable[[dict], str] | None = None):
    """``model`` validated from ``raw``; the first refusal as a DataFileError (missing / unknown grouped)."""
    try:
        return model.model_validate(raw)
    except PydanticError as exc:
        errors = exc.errors(include_url=False)
    first = errors[0]
    grouped = {"missing": "missing field(s)", "extra_forbidden": "unknown field(s)"}
    if first["type"] in grouped:
        parent = first["loc"][:-1]
        names = [str(e["loc"][-1]) for e in errors if e["type"] == first["type"] and e["loc"][:-1] == parent]
        raise DataFileError(origin, _where(raw, parent, label),
                            f"{grouped[first['type']]} {', '.join(names)}") from None
    raise DataFileError(origin, _where(raw, first["loc"], label), _message(first)) from None
