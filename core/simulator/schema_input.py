"""A tool's input built from its JSON schema, deterministically, so a test can predict every value.

Only required properties are filled: a string gets the prompt's word (or "example"), an integer or
number 1 (moved into [minimum, maximum]), a boolean true, an enum or const its first value, an array
one item (or minItems), an object is filled recursively; anyOf/oneOf/allOf take their first branch.
"""

from __future__ import annotations

import re

FALLBACK_WORD = "example"
MAX_DEPTH = 8  # a self-referencing schema stops here
_WORD = re.compile(r"[A-Za-z0-9]+")


def prompt_word(text: str, exclude=()) -> str:
    """The longest word of ``text`` (the first of equal length) not in ``exclude`` (names: each of their words)."""
    skip = {w.lower() for e in exclude for w in [e, *_WORD.findall(e)]}
    best = ""
    for word in _WORD.findall(text or ""):
        if word.lower() not in skip and len(word) > len(best):
            best = word
    return best or FALLBACK_WORD


def build_input(schema, word: str = FALLBACK_WORD) -> dict:
    """The input object for a tool whose ``input_schema`` is ``schema``."""
    value = _value(schema if isinstance(schema, dict) else {}, word, 0)
    return value if isinstance(value, dict) else {}


def _value(schema: dict, word: str, depth: int):
    if depth > MAX_DEPTH:
        return None
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches and isinstance(branches[0], dict):
            return _value(branches[0], word, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):  # ["string", "null"]: the first non-null type
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        required = schema.get("required") if isinstance(schema.get("required"), list) else []
        return {name: _value(props.get(name) if isinstance(props.get(name), dict) else {}, word, depth + 1)
                for name in required if isinstance(name, str)}
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        count = schema.get("minItems", 1)
        count = count if isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= 16 else 1
        return [_value(items, word, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number(schema, kind)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return word


def _number(schema: dict, kind: str):
    value = 1
    low, high = schema.get("minimum"), schema.get("maximum")
    if isinstance(low, int | float) and not isinstance(low, bool) and value < low:
        value = low
    if isinstance(high, int | float) and not isinstance(high, bool) and value > high:
        value = high
    if kind == "integer":
        return int(value) if float(value).is_integer() else int(value) + 1
    return value
