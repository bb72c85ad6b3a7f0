"""The API's list pages (models, Message Batches): ``limit`` 1-1000, ``after_id`` / ``before_id`` cursors."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .validate import invalid


def page(items: Sequence, params: dict, id_of: Callable[[object], str]) -> tuple[list, bool]:
    """One page of ``items`` (in the list's order) and whether more follow, as the query ``params`` ask."""
    try:
        limit = int(params.get("limit", ["20"])[0])
    except ValueError:
        raise invalid("limit: Input should be a valid integer") from None
    if not 1 <= limit <= 1000:
        raise invalid("limit: Input should be between 1 and 1000")
    items, ids = list(items), [id_of(x) for x in items]
    after, before = params.get("after_id", [None])[0], params.get("before_id", [None])[0]
    if after in ids:
        rest = items[ids.index(after) + 1:]
        return rest[:limit], len(rest) > limit
    if before in ids:
        head = items[:ids.index(before)]
        return head[-limit:], len(head) > limit
    return items[:limit], len(items) > limit


def list_body(data: list[dict], more: bool) -> dict:
    """A list response: ``{"data", "has_more", "first_id", "last_id"}``."""
    return {"data": data, "has_more": more, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None}
