"""Checks a request's parameters as the API does: tools, tool_choice, thinking, sampling, metadata, tiers.

Wording follows the API's 400 messages; a combination the API refuses (thinking with a forced tool,
a temperature other than 1, or top_k) is refused here too.
"""

from __future__ import annotations

import re

from .request_error import invalid
from .validate_blocks import check_cache_control

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
# Server and Anthropic-defined tool types -> the name each must carry (None: a toolset, no name).
SERVER_TOOLS: dict[str, str | None] = {
    "web_search_20250305": "web_search", "web_search_20260209": "web_search", "web_search_20260318": "web_search",
    "web_fetch_20250910": "web_fetch", "web_fetch_20260209": "web_fetch", "web_fetch_20260309": "web_fetch",
    "web_fetch_20260318": "web_fetch",
    "code_execution_20250522": "code_execution", "code_execution_20250825": "code_execution",
    "code_execution_20260120": "code_execution", "code_execution_20260521": "code_execution",
    "bash_20250124": "bash", "memory_20250818": "memory",
    "text_editor_20250124": "str_replace_editor", "text_editor_20250429": "str_replace_based_edit_tool",
    "text_editor_20250728": "str_replace_based_edit_tool",
    "tool_search_tool_bm25_20251119": "tool_search_tool_bm25",
    "tool_search_tool_regex_20251119": "tool_search_tool_regex",
    "browser_toolset_20260801": None, "computer_toolset_20260801": None,
}
THINKING_TYPES = ("enabled", "disabled", "adaptive", "between_tools")
MIN_BUDGET = 1024
GEOS = ("global", "us")
_NO_GEO = re.compile(r"^claude-(3|(opus|sonnet|haiku)-4-[015])\b")  # before Opus 4.6: no data residency
_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"


def _where(i: int, tool: dict) -> str:
    return f"tools.{i}.{tool.get('type') or 'custom'}"


def check_tools(tools) -> list[dict]:
    """The tools list: custom tools with a valid name and an object input_schema, known server tools, unique names."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise invalid("tools: Input should be a valid list")
    names: list[str] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise invalid(f"tools.{i}: Input should be a valid dictionary")
        kind = tool.get("type") or "custom"
        where = _where(i, tool)
        if kind == "custom":
            if "input_schema" not in tool:
                raise invalid(f"{where}.input_schema: Field required")
            schema = tool["input_schema"]
            if not isinstance(schema, dict) or schema.get("type") != "object":
                raise invalid(f"{where}.input_schema.type: Input should be 'object'")
        elif kind not in SERVER_TOOLS:
            raise invalid(f"tools.{i}: Input tag '{kind}' found using 'type' does not match any of the "
                          "expected tags: 'custom', " + ", ".join(repr(t) for t in SERVER_TOOLS))
        expected = SERVER_TOOLS.get(kind, "")
        if kind != "custom" and expected is None:
            check_cache_control(f"tools.{i}", tool.get("cache_control"))
            continue
        name = tool.get("name")
        if not isinstance(name, str):
            raise invalid(f"{where}.name: Field required")
        if kind == "custom" and not TOOL_NAME.match(name):
            raise invalid(f"{where}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        if kind != "custom" and name != expected:
            raise invalid(f"{where}.name: Input should be '{expected}'")
        check_cache_control(f"tools.{i}", tool.get("cache_control"))
        names.append(name)
    if len(set(names)) != len(names):
        raise invalid("tools: Tool names must be unique.")
    return tools


def check_tool_choice(choice, tools: list[dict]) -> dict | None:
    """auto / any / tool (naming a given tool) / none, with an optional disable_parallel_tool_use."""
    if choice is None:
        return None
    if not isinstance(choice, dict):
        raise invalid("tool_choice: Input should be a valid dictionary")
    kind = choice.get("type")
    if kind not in ("auto", "any", "tool", "none"):
        raise invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    allowed = {"type"} | ({"disable_parallel_tool_use"} if kind != "none" else set()) | (
        {"name"} if kind == "tool" else set())
    extra = sorted(set(choice) - allowed)
    if extra:
        raise invalid(f"tool_choice.{kind}.{extra[0]}: Extra inputs are not permitted")
    if "disable_parallel_tool_use" in choice and not isinstance(choice["disable_parallel_tool_use"], bool):
        raise invalid(f"tool_choice.{kind}.disable_parallel_tool_use: Input should be a valid boolean")
    if kind in ("any", "tool") and not tools:
        raise invalid("tool_choice: tool_choice may only be specified while providing tools.")
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str):
            raise invalid("tool_choice.tool.name: Field required")
        if name not in {t.get("name") for t in tools}:
            raise invalid(f"tool_choice.tool.name: Tool '{name}' not found in provided tools")
    return choice


def check_thinking(thinking, max_tokens: int | None) -> dict | None:
    """enabled (budget_tokens >= 1024 and < max_tokens), adaptive, disabled or between_tools."""
    if thinking is None:
        return None
    if not isinstance(thinking, dict) or thinking.get("type") not in THINKING_TYPES:
        raise invalid("thinking.type: Input should be " + ", ".join(repr(t) for t in THINKING_TYPES))
    kind = thinking["type"]
    allowed = {"type"} | ({"budget_tokens", "display"} if kind == "enabled" else
                          {"display"} if kind == "adaptive" else set())
    extra = sorted(set(thinking) - allowed)
    if extra:
        raise invalid(f"thinking.{kind}.{extra[0]}: Extra inputs are not permitted")
    if thinking.get("display") not in (None, "summarized", "omitted"):
        raise invalid(f"thinking.{kind}.display: Input should be 'summarized' or 'omitted'")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if "budget_tokens" not in thinking:
            raise invalid("thinking.enabled.budget_tokens: Field required")
        if not isinstance(budget, int) or isinstance(budget, bool):
            raise invalid("thinking.enabled.budget_tokens: Input should be a valid integer")
        if budget < MIN_BUDGET:
            raise invalid(f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_BUDGET}")
        if max_tokens is not None and budget >= max_tokens:
            raise invalid(f"`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
                          f"documentation at {_DOCS}#max-tokens-and-context-window-size")
    return thinking


def thinking_on(thinking) -> bool:
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def check_sampling(body: dict, thinking) -> None:
    """temperature in [0, 1], top_p in [0, 1], top_k >= 0; with thinking only temperature 1, top_p >= 0.95, no top_k."""
    temperature, top_p, top_k = body.get("temperature"), body.get("top_p"), body.get("top_k")
    for name, value in (("temperature", temperature), ("top_p", top_p)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not 0 <= value <= 1):
            raise invalid(f"{name}: Input should be between 0 and 1")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0):
        raise invalid("top_k: Input should be greater than or equal to 0")
    if not thinking_on(thinking):
        return
    if temperature is not None and temperature != 1:
        raise invalid(f"`temperature` may only be set to 1 when thinking is enabled. Please consult our "
                      f"documentation at {_DOCS}#feature-compatibility")
    if top_k is not None:
        raise invalid(f"`top_k` must be unset when thinking is enabled. Please consult our documentation at "
                      f"{_DOCS}#feature-compatibility")
    if top_p is not None and top_p < 0.95:
        raise invalid(f"`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled. Please "
                      f"consult our documentation at {_DOCS}#feature-compatibility")


def check_forced_tool(thinking, choice) -> None:
    if thinking_on(thinking) and isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        raise invalid("Thinking may not be enabled when tool_choice forces tool use.")


def check_metadata(metadata) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise invalid("metadata: Input should be a valid dictionary")
    extra = sorted(set(metadata) - {"user_id"})
    if extra:
        raise invalid(f"metadata.{extra[0]}: Extra inputs are not permitted")
    user_id = metadata.get("user_id")
    if user_id is not None and (not isinstance(user_id, str) or len(user_id) > 256):
        raise invalid("metadata.user_id: String should have at most 256 characters")


def check_tiers(body: dict, model_id: str) -> tuple[str | None, str | None]:
    """The requested service_tier ('auto' | 'standard_only') and inference_geo ('global' | 'us')."""
    tier = body.get("service_tier")
    if tier is not None and tier not in ("auto", "standard_only"):
        raise invalid("service_tier: Input should be 'auto' or 'standard_only'")
    geo = body.get("inference_geo")
    if geo is not None:
        if not isinstance(geo, str) or geo not in GEOS:
            raise invalid(f"inference_geo: Input should be {' or '.join(repr(g) for g in GEOS)}")
        if geo != "global" and _NO_GEO.match(model_id):
            raise invalid(f"inference_geo: '{geo}' is not supported for model {model_id}")
    speed = body.get("speed")
    if speed is not None and speed not in ("standard", "fast"):
        raise invalid("speed: Input should be 'standard' or 'fast'")
    return tier, geo


EFFORTS = ("low", "medium", "high", "xhigh", "max")


def check_output_config(config) -> dict | None:
    """``effort`` (low … max) and ``format`` ({"type": "json_schema", "schema": {...}}); returns the format."""
    if config is None:
        return None
    if not isinstance(config, dict):
        raise invalid("output_config: Input should be a valid dictionary")
    extra = sorted(set(config) - {"effort", "format"})
    if extra:
        raise invalid(f"output_config.{extra[0]}: Extra inputs are not permitted")
    if config.get("effort") is not None and config["effort"] not in EFFORTS:
        raise invalid("output_config.effort: Input should be " + ", ".join(repr(e) for e in EFFORTS))
    fmt = config.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        raise invalid("output_config.format.type: Input should be 'json_schema'")
    if not isinstance(fmt.get("schema"), dict):
        raise invalid("output_config.format.schema: Input should be a valid dictionary")
    return fmt
