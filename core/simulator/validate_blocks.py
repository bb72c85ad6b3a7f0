"""Checks messages and their content blocks the way the API does: shapes, sources, tool_use/tool_result pairs.

The field lists follow the Messages API's block types (as SDK 2.15 declares them); a field the API
does not know is refused with its "Extra inputs are not permitted" wording.
"""

from __future__ import annotations

from .media import IMAGE_TYPES, decode_base64, image_size, is_pdf, pdf_pages, sniff_image
from .request_error import invalid

ROLES = ("user", "assistant", "system")
_COMMON = frozenset({"type", "cache_control"})
_RESULT = frozenset({"tool_use_id", "content", "caller"})
BLOCK_FIELDS: dict[str, frozenset[str]] = {
    "text": _COMMON | {"text", "citations"},
    "image": _COMMON | {"source", "transformations"},
    "document": _COMMON | {"source", "citations", "context", "title"},
    "search_result": _COMMON | {"content", "source", "title", "citations"},
    "thinking": frozenset({"type", "thinking", "signature"}),
    "redacted_thinking": frozenset({"type", "data"}),
    "tool_use": _COMMON | {"id", "name", "input", "caller", "toolset_name"},
    "tool_result": _COMMON | {"tool_use_id", "content", "is_error", "toolset_name"},
    "server_tool_use": _COMMON | {"id", "name", "input", "caller"},
    "web_search_tool_result": _COMMON | _RESULT,
    "web_fetch_tool_result": _COMMON | _RESULT,
    "code_execution_tool_result": _COMMON | _RESULT,
    "bash_code_execution_tool_result": _COMMON | _RESULT,
    "text_editor_code_execution_tool_result": _COMMON | _RESULT,
    "tool_search_tool_result": _COMMON | _RESULT,
    "container_upload": _COMMON | {"file_id"},
}
# Blocks only a tool_result may hold.
RESULT_ONLY_FIELDS: dict[str, frozenset[str]] = {
    "tool_reference": _COMMON | {"tool_name"},
    "browser_state": _COMMON | {"state_changes", "tabs"},
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "text": ("text",), "image": ("source",), "document": ("source",),
    "search_result": ("content", "source", "title"), "thinking": ("thinking", "signature"),
    "redacted_thinking": ("data",), "tool_use": ("id", "name", "input"), "tool_result": ("tool_use_id",),
    "server_tool_use": ("id", "name", "input"), "container_upload": ("file_id",), "tool_reference": ("tool_name",),
}
MAX_IMAGE_PX = 8000  # either side of an image
MAX_PDF_PAGES = 100
TOOL_RESULT_CONTENT = frozenset({"text", "image", "search_result", "document", "tool_reference", "browser_state"})


def check_messages(messages) -> None:
    """Every message, then the tool_use / tool_result pairing across turns."""
    for i, msg in enumerate(messages):
        check_message(i, msg, last=i == len(messages) - 1)
    check_tool_pairs(messages)


def check_message(i: int, msg, *, last: bool) -> None:
    if not isinstance(msg, dict):
        raise invalid(f"messages.{i}: Input should be a valid dictionary")
    if msg.get("role") not in ROLES:
        raise invalid(f"messages.{i}.role: Input should be 'user', 'assistant' or 'system'")
    extra = sorted(set(msg) - {"role", "content"})
    if extra:
        raise invalid(f"messages.{i}.{extra[0]}: Extra inputs are not permitted")
    content = msg.get("content")
    if isinstance(content, str):
        if not content and not (last and msg["role"] == "assistant"):
            raise invalid(f"messages.{i}: all messages must have non-empty content except for the "
                          "optional final assistant message")
        return
    if not isinstance(content, list) or not content:
        raise invalid(f"messages.{i}.content: Input should be a non-empty string or list of blocks")
    for j, block in enumerate(content):
        where = f"messages.{i}.content.{j}"
        check_block(where, block)
        if msg["role"] == "system" and block["type"] != "text":
            raise invalid(f"{where}.type: Input should be 'text'")


def check_block(where: str, block, *, in_result: bool = False) -> None:
    """One content block: a known type, its required fields, no unknown ones, a valid cache_control."""
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise invalid(f"{where}: Input should be a content block with a 'type'")
    kind = block["type"]
    allowed = BLOCK_FIELDS.get(kind) or (RESULT_ONLY_FIELDS.get(kind) if in_result else None)
    if allowed is None:
        raise invalid(f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected "
                      f"tags: {', '.join(repr(t) for t in BLOCK_FIELDS)}")
    for name in REQUIRED.get(kind, ()):
        if name not in block:
            raise invalid(f"{where}.{kind}.{name}: Field required")
    extra = sorted(set(block) - allowed)
    if extra:
        raise invalid(f"{where}.{kind}.{extra[0]}: Extra inputs are not permitted")
    _check_fields(where, kind, block)
    check_cache_control(where, block.get("cache_control"))


def _check_fields(where: str, kind: str, block: dict) -> None:
    if kind == "text" and not isinstance(block["text"], str):
        raise invalid(f"{where}.text: Field required")
    if kind == "image":
        check_image_source(f"{where}.image.source", block["source"])
    elif kind == "document":
        _check_document_source(f"{where}.document.source", block["source"])
        _check_citations(f"{where}.document", block.get("citations"))
    elif kind == "search_result":
        _check_search_result(where, block)
    elif kind == "tool_use" and not isinstance(block["input"], dict):
        raise invalid(f"{where}.tool_use.input: Input should be a valid dictionary")
    elif kind == "tool_result":
        content = block.get("content", "")
        if not isinstance(content, str | list):
            raise invalid(f"{where}.content: Input should be a valid string or list of blocks")
        for k, inner in enumerate(content if isinstance(content, list) else ()):
            check_block(f"{where}.tool_result.content.{k}", inner, in_result=True)
            if inner["type"] not in TOOL_RESULT_CONTENT:
                raise invalid(f"{where}.tool_result.content.{k}.type: Input should be "
                              f"{', '.join(repr(t) for t in sorted(TOOL_RESULT_CONTENT))}")
        if "is_error" in block and not isinstance(block["is_error"], bool):
            raise invalid(f"{where}.tool_result.is_error: Input should be a valid boolean")
    elif kind in ("thinking", "redacted_thinking"):
        for name in REQUIRED[kind]:
            if not isinstance(block[name], str):
                raise invalid(f"{where}.{kind}.{name}: Input should be a valid string")


def check_cache_control(where: str, cc) -> None:
    """An ephemeral cache_control with a 5m or 1h TTL; ``where`` "" for the top-level one."""
    if cc is None:
        return
    at = f"{where}.cache_control" if where else "cache_control"
    if not isinstance(cc, dict) or cc.get("type") != "ephemeral":
        raise invalid(f"{at}.type: Input should be 'ephemeral'")
    if cc.get("ttl", "5m") not in ("5m", "1h"):
        raise invalid(f"{at}.ttl: Input should be '5m' or '1h'")


def check_image_source(where: str, source) -> None:
    """base64 (a media type the API takes, bytes that match it when recognisable), url or file."""
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "url":
        if not isinstance(source.get("url"), str):
            raise invalid(f"{where}.url.url: Field required")
        return
    if kind == "file":
        if not isinstance(source.get("file_id"), str):
            raise invalid(f"{where}.file.file_id: Field required")
        return
    if kind != "base64":
        raise invalid(f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected "
                      "tags: 'base64', 'url', 'file'")
    media_type = source.get("media_type")
    if media_type not in IMAGE_TYPES:
        raise invalid(f"{where}.base64.media_type: Input should be {', '.join(repr(t) for t in IMAGE_TYPES)}")
    if not isinstance(source.get("data"), str):
        raise invalid(f"{where}.base64.data: Field required")
    raw = decode_base64(source["data"])
    if raw is None:
        raise invalid(f"{where}.base64.data: Could not process image")
    sniffed = sniff_image(raw)
    if sniffed is not None and sniffed != media_type:  # unrecognisable bytes are billed flat, not refused
        raise invalid(f"{where}.base64: Image does not match the provided media type {media_type}")
    size = image_size(raw) if sniffed else None
    if size and max(size) > MAX_IMAGE_PX:
        raise invalid(f"{where}.base64.data: At least one of the image dimensions exceed max allowed size: "
                      f"{MAX_IMAGE_PX} pixels")


def _check_document_source(where: str, source) -> None:
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64":
        if source.get("media_type") != "application/pdf":
            raise invalid(f"{where}.base64.media_type: Input should be 'application/pdf'")
        raw = decode_base64(source["data"]) if isinstance(source.get("data"), str) else None
        if not is_pdf(raw):
            raise invalid(f"{where}.base64.data: The PDF specified was not valid.")
        if pdf_pages(raw) > MAX_PDF_PAGES:
            raise invalid(f"{where}.base64.data: A maximum of {MAX_PDF_PAGES} PDF pages may be provided.")
    elif kind == "text":
        if source.get("media_type") != "text/plain":
            raise invalid(f"{where}.text.media_type: Input should be 'text/plain'")
        if not isinstance(source.get("data"), str):
            raise invalid(f"{where}.text.data: Field required")
    elif kind == "content":
        content = source.get("content")
        if isinstance(content, str):
            return
        if not isinstance(content, list) or not content:
            raise invalid(f"{where}.content.content: Input should be a valid string or list of blocks")
        for k, inner in enumerate(content):
            check_block(f"{where}.content.content.{k}", inner)
            if inner["type"] not in ("text", "image"):
                raise invalid(f"{where}.content.content.{k}.type: Input should be 'text' or 'image'")
    elif kind in ("url", "file"):
        field = "url" if kind == "url" else "file_id"
        if not isinstance(source.get(field), str):
            raise invalid(f"{where}.{kind}.{field}: Field required")
    else:
        raise invalid(f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected "
                      "tags: 'base64', 'text', 'content', 'url', 'file'")


def _check_search_result(where: str, block: dict) -> None:
    content = block["content"]
    if not isinstance(content, list) or not content:
        raise invalid(f"{where}.search_result.content: Input should be a non-empty list of text blocks")
    for k, inner in enumerate(content):
        check_block(f"{where}.search_result.content.{k}", inner)
        if inner["type"] != "text":
            raise invalid(f"{where}.search_result.content.{k}.type: Input should be 'text'")
    for name in ("source", "title"):
        if not isinstance(block[name], str):
            raise invalid(f"{where}.search_result.{name}: Input should be a valid string")
    _check_citations(f"{where}.search_result", block.get("citations"))


def _check_citations(where: str, citations) -> None:
    if citations is None:
        return
    if not isinstance(citations, dict) or set(citations) - {"enabled"} or not isinstance(
            citations.get("enabled", False), bool):
        raise invalid(f"{where}.citations: Input should be {{\"enabled\": true|false}}")


def _tool_ids(content, kind: str, key: str) -> list[str]:
    if not isinstance(content, list):
        return []
    return [b.get(key) for b in content if isinstance(b, dict) and b.get("type") == kind]


def check_tool_pairs(messages) -> None:
    """Each assistant tool_use is answered by a tool_result in the next (user) message, and no result is orphaned."""
    for i, msg in enumerate(messages):
        following = messages[i + 1] if i + 1 < len(messages) else None
        if msg["role"] == "assistant" and following is not None:
            uses = _tool_ids(msg.get("content"), "tool_use", "id")
            answered = set(_tool_ids(following.get("content"), "tool_result", "tool_use_id"))
            missing = [u for u in uses if u not in answered]
            if missing:
                raise invalid(f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks "
                              f"immediately after: {', '.join(map(str, missing))}. Each `tool_use` block must "
                              "have a corresponding `tool_result` block in the next message.")
        if msg["role"] == "user":
            before = messages[i - 1] if i > 0 else None
            known = set(_tool_ids(before.get("content"), "tool_use", "id")) if (
                before is not None and before["role"] == "assistant") else set()
            content = msg.get("content") if isinstance(msg.get("content"), list) else []
            for j, block in enumerate(content):
                if block.get("type") == "tool_result" and block.get("tool_use_id") not in known:
                    raise invalid(f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                                  f"blocks: {block.get('tool_use_id')}. Each `tool_result` block must have a "
                                  "corresponding `tool_use` block in the previous message.")


def check_thinking_kept(messages) -> None:
    """With thinking on, the assistant turn a tool_result answers must start with its thinking block, as sent."""
    if len(messages) < 2 or messages[-1]["role"] != "user":
        return
    results = _tool_ids(messages[-1].get("content"), "tool_result", "tool_use_id")
    turn = messages[-2]
    content = turn.get("content")
    if not results or turn["role"] != "assistant" or not _tool_ids(content, "tool_use", "id"):
        return
    first = content[0].get("type")
    if first not in ("thinking", "redacted_thinking"):
        raise invalid(f"messages.{len(messages) - 2}.content.0.type: Expected `thinking` or `redacted_thinking`, "
                      f"but found `{first}`. When `thinking` is enabled, a final `assistant` message must start "
                      "with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` "
                      "blocks). We recommend you include thinking blocks from previous turns. To avoid this "
                      "requirement, disable `thinking`.")
