"""Checks a Messages (or count_tokens) body the way the API does, with its error wording.

Top-level fields the API does not know are refused ("Extra inputs are not permitted"), as the
API refuses them. The beta fields are known too: SDK 2.15 sends its beta calls to the same path.
"""

from __future__ import annotations

from dataclasses import dataclass

from .catalogue import Catalogue, ModelInfo
from .request_error import RequestError, invalid
from .tokenizer import count_request
from .validate_blocks import check_block, check_cache_control, check_messages, check_thinking_kept
from .validate_params import (
    check_forced_tool,
    check_metadata,
    check_output_config,
    check_sampling,
    check_thinking,
    check_tiers,
    check_tool_choice,
    check_tools,
    thinking_on,
)

__all__ = ["MessagesRequest", "RequestError", "invalid", "parse_messages_body", "resolve_model"]

MAX_BREAKPOINTS = 4
# The top-level fields of a Messages request (SDK 2.15's MessageCreateParams, plus the sampling
# parameters older models still take), of a count_tokens request, and what the beta calls add to each.
MESSAGES_FIELDS = frozenset({
    "model", "messages", "max_tokens", "cache_control", "container", "diagnostics", "inference_geo", "metadata",
    "output_config", "service_tier", "speed", "stop_sequences", "stream", "system", "thinking", "tool_choice",
    "tools", "user_profile_id", "workspace_id", "temperature", "top_k", "top_p"})
COUNT_FIELDS = frozenset({"model", "messages", "cache_control", "output_config", "speed", "system", "thinking",
                          "tool_choice", "tools", "user_profile_id", "workspace_id"})
BETA_FIELDS = frozenset({"billing_policy", "compaction", "context_management", "fallback_credit_token",
                         "fallbacks", "mcp_servers", "thread"})
BETA_COUNT_FIELDS = frozenset({"billing_policy", "compaction", "context_management", "mcp_servers"})


@dataclass(frozen=True)
class MessagesRequest:
    """A validated body: the resolved model and the fields the simulator uses."""

    model: ModelInfo
    system: object
    messages: list
    max_tokens: int
    stream: bool
    stop_sequences: tuple[str, ...]
    tools: list | None = None
    tool_choice: dict | None = None
    thinking: dict | None = None
    service_tier: str | None = None  # as asked: "auto" | "standard_only"
    inference_geo: str | None = None  # as asked: "global" | "us"
    cache_control: dict | None = None  # top-level: cache up to the last block
    output_format: dict | None = None  # output_config.format: answer with JSON matching its schema

    @property
    def prompt_tokens(self) -> int:
        """Every input token, counted by the simulator's own tokenizer (not the client's estimate)."""
        return count_request(self.system, self.messages, self.model.tokenizer, self.tools)


def resolve_model(catalogue: Catalogue, name, *, for_inference: bool = True) -> ModelInfo:
    """The catalogue entry for an id or alias (not a tier); 404 when unknown or retired."""
    if not isinstance(name, str) or not name:
        raise invalid("model: Field required")
    info = catalogue.models.get(catalogue.aliases.get(name, name))
    if info is None:
        raise RequestError(404, "not_found_error", f"model: {name}")
    if for_inference and info.status == "retired":
        raise RequestError(404, "not_found_error", f"model: {name} has been retired")
    return info


def parse_messages_body(body, catalogue: Catalogue, *, count_only: bool = False) -> MessagesRequest:
    """Validate a body; ``count_only`` for count_tokens (no max_tokens, no stream)."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    known = COUNT_FIELDS | BETA_COUNT_FIELDS if count_only else MESSAGES_FIELDS | BETA_FIELDS
    extra = sorted(set(body) - known)
    if extra:
        raise invalid(f"{extra[0]}: Extra inputs are not permitted")
    if "model" not in body:
        raise invalid("model: Field required")
    max_tokens = 0
    if not count_only:
        if "max_tokens" not in body:
            raise invalid("max_tokens: Field required")
        max_tokens = body["max_tokens"]
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise invalid("max_tokens: Input should be an integer greater than or equal to 1")
    messages = body.get("messages")
    if "messages" not in body:
        raise invalid("messages: Field required")
    if not isinstance(messages, list):
        raise invalid("messages: Input should be a valid list")
    if not messages:
        raise invalid("messages: at least one message is required")
    check_messages(messages)
    system = body.get("system")
    _check_system(system)
    _check_breakpoints(system, messages, body.get("tools"))
    check_cache_control("", body.get("cache_control"))
    stop = body.get("stop_sequences") or []
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise invalid("stop_sequences: Input should be a list of non-empty strings")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid("stream: Input should be a valid boolean")
    tools = check_tools(body.get("tools"))
    choice = check_tool_choice(body.get("tool_choice"), tools)
    thinking = check_thinking(body.get("thinking"), None if count_only else max_tokens)
    check_sampling(body, thinking)
    check_forced_tool(thinking, choice)
    if thinking_on(thinking):
        check_thinking_kept(messages)
    check_metadata(body.get("metadata"))
    output_format = check_output_config(body.get("output_config"))
    model = resolve_model(catalogue, body["model"])
    tier, geo = check_tiers(body, model.id)
    if max_tokens > model.max_output_tokens:
        raise invalid(f"max_tokens: {max_tokens} > {model.max_output_tokens}, which is the maximum "
                      f"allowed number of output tokens for {model.id}")
    req = MessagesRequest(model=model, system=system, messages=messages, max_tokens=max_tokens,
                          stream=stream and not count_only, stop_sequences=tuple(stop), tools=tools or None,
                          tool_choice=choice, thinking=thinking, service_tier=tier, inference_geo=geo,
                          cache_control=body.get("cache_control"), output_format=output_format)
    if req.prompt_tokens + max_tokens > model.context_window:
        raise invalid(f"prompt is too long: {req.prompt_tokens} tokens + max_tokens {max_tokens} > "
                      f"{model.context_window} maximum")
    return req


def _check_system(system) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise invalid("system: Input should be a valid string or a list of text blocks")
    for j, block in enumerate(system):
        check_block(f"system.{j}", block)
        if block.get("type") != "text":
            raise invalid(f"system.{j}.type: Input should be 'text'")


def _check_breakpoints(system, messages, tools) -> None:
    blocks = [t for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []
    blocks += list(system) if isinstance(system, list) else []
    for msg in messages:
        if isinstance(msg.get("content"), list):
            blocks.extend(msg["content"])
    found = sum(1 for b in blocks if b.get("cache_control") is not None)
    if found > MAX_BREAKPOINTS:
        raise invalid(f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
                      f"Found {found}.")
