"""Request validation before anything is sent: shape, sizes, limits and an injection screen.

Every refusal is a ``ValidationError`` naming the field and the limit; messages quote
sizes, positions and code points, never the prompt text. The injection screen is a short,
documented list of phrases, matched case-insensitively on normalised text: a tripwire
for obvious attempts, not a defence.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from core.catalog.models import Catalogue, ModelInfo
from core.errors import PromptBlocked, UnknownModel, ValidationError
from core.guards import blocks, shapes
from core.guards.tokens import estimate_request

# The seed's list: phrases seen in common prompt-injection attempts. Keep it short; every
# entry costs false positives ("system prompt" also appears in honest questions).
DEFAULT_INJECTION_PHRASES: tuple[str, ...] = (
    "ignore previous instructions",
    "ignore all previous instructions",
    "disregard previous instructions",
    "system prompt",
    "you are now",
    "forget your instructions",
    "developer mode",
    "jailbreak",
)
INJECTION_MODES = ("flag", "block", "off")
ROLES = ("user", "assistant")
# Unicode category Cc is exactly U+0000-001F and U+007F-009F; \t \n \r are allowed.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# A lone surrogate (U+D800-DFFF) is not valid Unicode: it cannot be encoded as UTF-8, so cannot be sent.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Levels of lists and objects allowed inside one field. JSON encoders recurse, so a deeper value would be
# a RecursionError at send time; it is refused up front by an iterative walk instead.
MAX_NESTING = 64
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
# Body fields whose shape the SDK declares (core/guards/shapes.py), checked when given.
_PARAM_SHAPES = {"tools": shapes.TOOLS, "tool_choice": shapes.TOOL_CHOICE, "thinking": shapes.THINKING,
                 "metadata": shapes.METADATA}


@dataclass(frozen=True)
class ValidationPolicy:
    """Limits and the injection screen (sizes in characters and estimated tokens)."""

    max_prompt_chars: int = 400_000
    max_prompt_tokens: int | None = None  # None: the model's context window minus max_tokens
    injection_mode: str = "flag"
    injection_phrases: tuple[str, ...] = DEFAULT_INJECTION_PHRASES

    def __post_init__(self) -> None:
        if self.injection_mode not in INJECTION_MODES:
            raise ValueError(f"injection_mode must be one of {', '.join(INJECTION_MODES)}")


@dataclass(frozen=True)
class Validated:
    """A request that passed: the resolved model, its limits and the prompt's measured size."""

    model: str
    info: ModelInfo
    messages: list
    system: str | list | None
    max_tokens: int
    temperature: float | None
    prompt_tokens: int  # offline estimate with the model's tokenizer
    prompt_chars: int
    flags: tuple[str, ...] = ()  # injection phrases matched in "flag" mode


def as_messages(prompt: str) -> list[dict]:
    """A plain prompt as a one-message conversation."""
    if not isinstance(prompt, str):
        raise ValidationError(f"The prompt must be text, not {type(prompt).__name__}.", field="messages")
    return [{"role": "user", "content": prompt}]


def validate(model: str, messages, *, max_tokens: int, system=None, temperature=None,
             catalogue: Catalogue, policy: ValidationPolicy | None = None,
             params: Mapping | None = None) -> Validated:
    """Check a Messages request (``params``: the other body fields) against the catalogue and policy."""
    policy = policy or ValidationPolicy()
    info = _model(model, catalogue)
    _max_tokens(max_tokens, info)
    _temperature(temperature)
    _system(system)
    _messages(messages)
    json_value(system, "system")
    json_value(messages, "messages")
    for name, value in (params or {}).items():
        json_value(name, "params")
        json_value(value, name if _NAME.fullmatch(name) else "params")
        if name in _PARAM_SHAPES and value is not None and type(value).__name__ not in ("NotGiven", "Omit"):
            shapes.check(_PARAM_SHAPES[name], value, name, name)
        elif name == "extra_headers":
            _headers(value)
    texts = [("system", t) for t in blocks.texts(system)] if system else []
    for i, msg in enumerate(messages):
        texts.extend((f"messages[{i}].content", t) for t in blocks.texts(msg["content"]))
    if not _has_content(messages):
        raise ValidationError("The prompt is empty: write something to send.", field="messages")
    chars = sum(len(t) for _, t in texts)
    if chars > policy.max_prompt_chars:
        raise ValidationError(f"The prompt is {chars:,} characters; the limit is "
                              f"{policy.max_prompt_chars:,}. Shorten it.", field="messages")
    for where, text in texts:
        _control_chars(where, text)
    tokens = estimate_request(system, messages, info.tokenizer)
    window_left = info.context_window - max_tokens
    limit = window_left if policy.max_prompt_tokens is None else min(policy.max_prompt_tokens, window_left)
    if tokens > limit:
        why = (f"{info.id}'s context window of {info.context_window:,} minus max_tokens={max_tokens:,}"
               if limit == window_left else "the configured maximum")
        raise ValidationError(f"The prompt is about {tokens:,} tokens; the limit is {limit:,} ({why}). "
                              "Shorten it or lower max_tokens.", field="messages")
    flags: tuple[str, ...] = ()
    if policy.injection_mode != "off":
        # What the caller wrote: system and user turns, every text-bearing block (tool results, documents,
        # search results); the assistant's own turns are not screened.
        user_texts = [t for where, t in texts if where == "system"] + [
            t for msg in messages if msg["role"] == "user" for t in blocks.texts(msg["content"])]
        matched = match_phrases(user_texts, policy.injection_phrases)
        if matched and policy.injection_mode == "block":
            raise PromptBlocked(list(matched))
        flags = matched
    return Validated(model=info.id, info=info, messages=messages, system=system, max_tokens=max_tokens,
                     temperature=temperature, prompt_tokens=tokens, prompt_chars=chars, flags=flags)


# --- the injection screen ---------------------------------------------------------------

def normalise(text: str) -> str:
    """Casefolded NFKC text with invisible format characters dropped and whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")  # zero-width tricks
    return re.sub(r"\s+", " ", text.casefold()).strip()


@lru_cache(maxsize=32)
def _screen(phrases: tuple[str, ...]) -> list[tuple[str, re.Pattern]]:
    """Each configured phrase with its whole-word pattern, compiled once per phrase list."""
    return [(p, re.compile(rf"(?<!\w){re.escape(normalise(p))}(?!\w)")) for p in phrases if normalise(p)]


def match_phrases(texts, phrases) -> tuple[str, ...]:
    """The phrases (as configured) found as whole words in any of ``texts``, in list order."""
    haystack = "\n".join(normalise(t) for t in texts)
    return tuple(phrase for phrase, pattern in _screen(tuple(phrases)) if pattern.search(haystack))


# --- one check per field ----------------------------------------------------------------

def json_value(value, field: str) -> None:
    """Refuse what cannot be sent as JSON: lone surrogates, non-finite numbers, odd types, deep nesting.

    Walks iteratively (a stack, no recursion), so even a value nested far past Python's recursion
    limit gets a ValidationError naming the field and where in it, never a RecursionError. Paths are
    kept as (parent, step) links and only spelt out for an error: a valid request pays for types only.
    """
    stack: list = [(value, None, 0)]
    while stack:
        item, at, depth = stack.pop()
        kind = type(item)
        if kind is str:
            _text_ok(item, field, at)
        elif kind is dict or kind is list or kind is tuple or (
                kind not in _SCALARS and isinstance(item, Mapping | list | tuple)):
            if depth >= MAX_NESTING:
                raise ValidationError(f"{field} is nested more than {MAX_NESTING} levels deep; flatten it.",
                                      field=field)
            if isinstance(item, Mapping):
                for key, sub in item.items():
                    if not isinstance(key, str):
                        raise ValidationError(f"{_where(field, at)} has a key of type {type(key).__name__}; "
                                              "object keys must be text.", field=_where(field, at))
                    _text_ok(key, field, (at, " (a key)"))
                    stack.append((sub, (at, key), depth + 1))
            else:
                stack.extend((sub, (at, i), depth + 1) for i, sub in enumerate(item))
        elif item is None or kind is int or kind is bool:
            continue
        elif kind is float or isinstance(item, float):
            if not math.isfinite(item):
                raise ValidationError(f"{_where(field, at)} is {item}; only finite numbers can be sent.",
                                      field=_where(field, at))
        elif isinstance(item, str):
            _text_ok(item, field, at)
        elif isinstance(item, int):
            continue
        elif kind.__name__ not in ("NotGiven", "Omit"):  # the SDK's "not sent" markers
            raise ValidationError(f"{_where(field, at)} is of type {kind.__name__}, which cannot be sent as JSON "
                                  "(use text, numbers, true/false, null, lists and objects).",
                                  field=_where(field, at))


_SCALARS = frozenset({int, float, bool, type(None)})


def _text_ok(text: str, field: str, at) -> None:
    bad = None if text.isascii() else _SURROGATE.search(text)  # isascii is O(1): the common case
    if bad:
        where = _where(field, at)
        raise ValidationError(f"{where} contains a lone surrogate U+{ord(bad.group()):04X} at position "
                              f"{bad.start()}, which is not valid Unicode text; remove it or re-encode the "
                              "text.", field=where)


def _where(field: str, at) -> str:
    """Spell out a (parent, step) path: field[0].name; keys that are not plain names show as […]."""
    steps = []
    while at is not None:
        at, step = at
        steps.append(step)
    out = field
    for step in reversed(steps):
        if isinstance(step, int):
            out += f"[{step}]"
        elif step == " (a key)":
            out += step
        else:
            out += f".{step}" if _NAME.fullmatch(step) else "[…]"
    return out


def _model(model, catalogue: Catalogue) -> ModelInfo:
    if not isinstance(model, str):  # named by its type: str() of a deep or odd object can itself fail
        raise UnknownModel(f"<{type(model).__name__}, not text>", [*catalogue.known(), *catalogue.tiers])
    if len(model) > 100:
        raise ValidationError(f"model is {len(model):,} characters long; no model id, alias or tier is.",
                              field="model")
    info = catalogue.get(model)
    if info is None:
        raise UnknownModel(str(model), [*catalogue.known(), *catalogue.tiers])
    return info


def _max_tokens(max_tokens, info: ModelInfo) -> None:
    limit = info.max_output_tokens
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise ValidationError(f"max_tokens must be a whole number from 1 to {limit:,} for {info.id}, "
                              f"not {type(max_tokens).__name__}.", field="max_tokens")
    if not 1 <= max_tokens <= limit:
        raise ValidationError(f"max_tokens must be from 1 to {limit:,} for {info.id} (its output "
                              f"limit); got {max_tokens:,}.", field="max_tokens")


def _temperature(temperature) -> None:
    if temperature is None:
        return
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise ValidationError(f"temperature must be a number from 0 to 1, not {type(temperature).__name__}.",
                              field="temperature")
    if not 0 <= temperature <= 1:  # also refuses NaN
        raise ValidationError(f"temperature must be from 0 to 1; got {temperature}.", field="temperature")


def _system(system) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise ValidationError("system must be text or a list of text blocks, not "
                              f"{type(system).__name__}.", field="system")
    for j, block in enumerate(system):
        if not (isinstance(block, Mapping) and block.get("type") == "text"):
            raise ValidationError(f"system[{j}] must be a text block ({{'type': 'text', 'text': ...}}).",
                                  field="system")
    shapes.check(shapes.SYSTEM_BLOCKS, system, "system", "system")


def _headers(headers) -> None:
    """``extra_headers``: an object of header names and text values (sent as headers, never in the body)."""
    if headers is None:
        return
    if not isinstance(headers, Mapping) or not all(isinstance(k, str) and isinstance(v, str | None)
                                                   for k, v in headers.items()):
        raise ValidationError("extra_headers must be an object of header names and text values, e.g. "
                              "{\"anthropic-beta\": \"...\"}.", field="extra_headers")
    for name in headers:
        if not name or _CONTROL.search(name) or any(c in name for c in " :\r\n"):
            raise ValidationError("extra_headers has a header name that is not a valid HTTP field name.",
                                  field="extra_headers")


def _messages(messages) -> None:
    if not isinstance(messages, list | tuple):
        raise ValidationError("messages must be a list of {role, content} objects, not "
                              f"{type(messages).__name__}.", field="messages")
    if not messages:
        raise ValidationError("messages is empty: send at least one user message.", field="messages")
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, Mapping) or set(msg) != {"role", "content"}:
            raise ValidationError(f"{where} must be an object with exactly 'role' and 'content'.",
                                  field=where)
        role = msg["role"]
        if role not in ROLES:
            raise ValidationError(f"{where}.role must be 'user' or 'assistant'.", field=f"{where}.role")
        if i == 0 and role != "user":
            raise ValidationError("The first message must be from the user.", field=f"{where}.role")
        if i > 0 and role == messages[i - 1]["role"]:
            raise ValidationError(f"Roles must alternate user/assistant; {where} repeats {role!r}.",
                                  field=f"{where}.role")
        _content(msg["content"], f"{where}.content")


def _content(content, where: str) -> None:
    """Text, or a non-empty list of blocks each of a shape the SDK declares (any current block type)."""
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        raise ValidationError(f"{where} must be text or a non-empty list of content blocks.", field=where)
    shapes.check(shapes.BLOCKS, content, where)


def _control_chars(where: str, text: str) -> None:
    bad = _CONTROL.search(text)
    if bad:
        raise ValidationError(f"{where} contains a control character U+{ord(bad.group()):04X} at position "
                              f"{bad.start()}; remove it (only newline, carriage return and tab are "
                              "allowed).", field=where)


def _has_content(messages) -> bool:
    """True when some message has non-blank text or a non-text block (an image, a tool call)."""
    for msg in messages:
        content = msg["content"]
        if isinstance(content, str):
            if content.strip():
                return True
            continue
        for block in content:
            if block["type"] != "text" or str(block.get("text", "")).strip():
                return True
    return False
