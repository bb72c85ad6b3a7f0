"""Message shapes checked against the anthropic SDK's own param types (pydantic TypeAdapters).

The SDK declares every request shape as TypedDicts (``anthropic.types.*Param``). Two things
keep them from being used as they are: their lists are ``Iterable[...]``, which pydantic
validates lazily (errors would only show when the SDK iterates, mid-send), and their unions
of blocks are plain unions, whose errors list every member. ``eager`` rebuilds a type once,
at import, with lists validated at once and block unions discriminated on ``type``. Fields
the SDK does not know pass through (a TypedDict ignores them); ``check`` turns pydantic's
first error into Tollgate's ValidationError with the field path, never quoting the value.
"""

from __future__ import annotations

import collections.abc
import re
import types
import typing
from functools import cache
from typing import Annotated, NotRequired, Required, get_args, get_origin

from pydantic import ConfigDict, Discriminator, Tag, TypeAdapter
from pydantic import ValidationError as PydanticError
from typing_extensions import TypedDict, is_typeddict  # pydantic needs typing_extensions' TypedDict on 3.11

from core.errors import ValidationError

_TAG = "type="  # prefix of our union tags, so an error's location can tell a tag from a key
_LISTS = {collections.abc.Iterable, collections.abc.Sequence, list}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
_built: dict[type, object] = {}


def eager(tp):
    """``tp`` with every Iterable as a list and every union of typed blocks discriminated on ``type``."""
    origin = get_origin(tp)
    if is_typeddict(tp):
        return _typeddict(tp)
    if origin in (Required, NotRequired):
        return origin[eager(get_args(tp)[0])]
    if origin is Annotated:
        return Annotated[(eager(get_args(tp)[0]), *tp.__metadata__)]
    if origin in _LISTS:
        return list[eager(get_args(tp)[0])] if get_args(tp) else list
    if origin in (dict, collections.abc.Mapping) and get_args(tp):
        key, value = get_args(tp)
        return dict[key, eager(value)]
    if origin is typing.Union or origin is types.UnionType:
        return _union(get_args(tp))
    return tp


def _typeddict(cls):
    if cls in _built:  # a cycle (or done before): the plain class is a safe, if lazy, stand-in
        return _built[cls]
    _built[cls] = cls
    hints = typing.get_type_hints(cls, include_extras=True)
    new = TypedDict(cls.__name__, {k: eager(v) for k, v in hints.items()}, total=cls.__total__)
    _built[cls] = new
    return new


def _type_literals(member) -> tuple[tuple[str, ...], bool] | None:
    """The ``type`` literal values of a TypedDict member, and whether a value must carry one.

    ``ToolParam``'s ``type`` is optional (``Optional[Literal["custom"]]``, not required): such a
    member is the union's default for a value without a type.
    """
    if not is_typeddict(member):
        return None
    hint = typing.get_type_hints(member, include_extras=True).get("type")
    if hint is None:
        return None
    required = member.__total__
    if get_origin(hint) in (Required, NotRequired):
        required, hint = get_origin(hint) is Required, get_args(hint)[0]
    if get_origin(hint) in (typing.Union, types.UnionType):  # Optional[Literal[...]]: None is allowed
        args = [a for a in get_args(hint) if a is not type(None)]
        required, hint = False, (args[0] if len(args) == 1 else None)
    if get_origin(hint) is not typing.Literal:
        return None
    return tuple(get_args(hint)), required


def _union(members: tuple):
    optional = type(None) in members
    members = tuple(m for m in members if m is not type(None))
    facts = [_type_literals(m) for m in members]
    values = [v for f in facts if f for v in f[0]]
    untyped = [m for m, f in zip(members, facts, strict=True) if f and not f[1]]
    if len(members) < 2 or None in facts or len(values) != len(set(values)) or len(untyped) > 1:
        built = typing.Union[tuple(eager(m) for m in members)]  # noqa: UP007 - built from a tuple
    else:
        tag_of = {v: f"{_TAG}{f[0][0]}" for f in facts for v in f[0]}
        default = f"{_TAG}{_type_literals(untyped[0])[0][0]}" if untyped else None

        def tag(value) -> str | None:
            if not isinstance(value, collections.abc.Mapping):
                return None
            kind = value.get("type")
            if kind is None:  # absent or null: only a member whose type is optional can take it
                return default
            return tag_of.get(kind, f"{_TAG}{kind}") if isinstance(kind, str) else None

        tagged = tuple(Annotated[eager(m), Tag(f"{_TAG}{f[0][0]}")] for m, f in zip(members, facts, strict=True))
        built = Annotated[typing.Union[tagged], Discriminator(tag)]  # noqa: UP007 - built from a tuple
    return typing.Optional[built] if optional else built  # noqa: UP045 - built at run time


BLOCKS, SYSTEM_BLOCKS, TOOLS, TOOL_CHOICE = "blocks", "system", "tools", "tool_choice"
THINKING, METADATA = "thinking", "metadata"


@cache
def adapter(shape: str) -> TypeAdapter:
    """The TypeAdapter of one request shape, built once per process on first use.

    Not at import: ``anthropic.types`` and the schema build cost a refused CLI call (plain text,
    which never needs them) most of its start-up budget.
    """
    from anthropic.types import (
        MetadataParam,
        TextBlockParam,
        ThinkingConfigParam,
        ToolChoiceParam,
        ToolUnionParam,
    )
    from anthropic.types.content_block_param import ContentBlockParam

    config = ConfigDict(arbitrary_types_allowed=True)  # the SDK's file inputs (IO, PathLike) are plain classes
    tp = {BLOCKS: list[ContentBlockParam], SYSTEM_BLOCKS: list[TextBlockParam],
          TOOLS: list[ToolUnionParam], TOOL_CHOICE: ToolChoiceParam, THINKING: ThinkingConfigParam,
          METADATA: MetadataParam}[shape]
    built = eager(tp)
    return TypeAdapter(built, config=None if is_typeddict(built) else config)  # a TypedDict has its own


def check(shape: str, value, where: str, field: str | None = None) -> None:
    """Validate ``value`` against a shape; the first error as a ValidationError at ``where`` + its path.

    ``field`` is the ValidationError's field: fixed, or by default the list holding the block at fault.
    """
    try:
        adapter(shape).validate_python(value)
    except PydanticError as exc:
        raise _translate(exc.errors(include_url=False, include_input=False), value, where, field) from None


def _walk(value, loc: tuple) -> tuple[list, list]:
    """The real path of ``loc`` through ``value`` (union labels dropped) and the node at each step."""
    path, nodes, node = [], [value], value
    for part in loc:
        index = isinstance(part, int) and isinstance(node, list | tuple) and 0 <= part < len(node)
        key = isinstance(part, str) and not part.startswith(_TAG) and isinstance(node, collections.abc.Mapping) \
            and part in node
        if not (index or key):
            continue  # a union member's label or our tag, not a step into the value
        node = node[part]
        path.append(part)
        nodes.append(node)
    return path, nodes


def _spell(where: str, path) -> str:
    """``where[0].source``; a key that is not a plain name shows as […], so no text of the request is quoted."""
    return where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" if _NAME.fullmatch(p) else "[…]"
                           for p in path)


def _translate(errors: list, value, where: str, field) -> ValidationError:
    walked = [(_walk(value, e["loc"][:-1] if e["type"] == "missing" else e["loc"]), e) for e in errors]
    depth = max(len(path) for (path, _), _ in walked)
    deepest = [(p, n, e) for (p, n), e in walked if len(p) == depth]
    path, nodes, err = deepest[0]
    block = max((i for i in range(len(path)) if isinstance(path[i], int)
                 and isinstance(nodes[i + 1], collections.abc.Mapping) and "type" in nodes[i + 1]), default=None)
    at = _spell(where, path)
    if isinstance(field, str):
        name = field
    elif block is not None:
        name = _spell(where, path[:block])
    else:
        name = where
    if err["type"] == "union_tag_invalid":
        known = err["ctx"]["expected_tags"].replace("'", "").replace(_TAG, "")
        return ValidationError(f"{at} must be a block of type {known}.", field=name)
    if err["type"] == "union_tag_not_found":
        return ValidationError(f"{at} must be an object with a 'type'.", field=name)
    kind = nodes[block + 1]["type"] if block is not None else None
    kind = f" ({kind})" if isinstance(kind, str) and _NAME.fullmatch(kind) else ""
    if err["type"] == "missing":
        own = kind if block is not None and block + 1 == len(path) else ""
        return ValidationError(f"{at}{own} needs '{err['loc'][-1]}'.", field=name)
    said = " or ".join(dict.fromkeys(e["msg"][0].lower() + e["msg"][1:] for _, _, e in deepest))
    if block is not None and len(path) == block + 2:  # a field of the block itself
        return ValidationError(f"{_spell(where, path[:block + 1])}{kind} needs '{path[-1]}' as the API "
                               f"defines it: {said}.", field=name)
    return ValidationError(f"{at} is not valid: {said}.", field=name)
