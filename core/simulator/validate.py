"""Checks a Messages (or count_tokens) body the way the API does, with its error wording."""

from __future__ import annotations

from dataclasses import dataclass

from .catalogue import Catalogue, ModelInfo
from .tokenizer import count_request

ROLES = ("user", "assistant")
MAX_BREAKPOINTS = 4


class RequestError(Exception):
    """A request the API would refuse: HTTP status, ``error.type`` and message."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def invalid(message: str) -> RequestError:
    return RequestError(400, "invalid_request_error", message)


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
    for i, msg in enumerate(messages):
        _check_message(i, msg, last=i == len(messages) - 1)
    system = body.get("system")
    _check_system(system)
    _check_breakpoints(system, messages)
    stop = body.get("stop_sequences") or []
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise invalid("stop_sequences: Input should be a list of non-empty strings")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid("stream: Input should be a valid boolean")
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 1):
        raise invalid("temperature: Input should be between 0 and 1")
    model = resolve_model(catalogue, body["model"])
    if max_tokens > model.max_output_tokens:
        raise invalid(f"max_tokens: {max_tokens} > {model.max_output_tokens}, which is the maximum "
                      f"allowed number of output tokens for {model.id}")
    req = MessagesRequest(model=model, system=system, messages=messages, max_tokens=max_tokens,
                          stream=stream and not count_only, stop_sequences=tuple(stop),
                          tools=body.get("tools") or None)
    if req.prompt_tokens + max_tokens > model.context_window:
        raise invalid(f"prompt is too long: {req.prompt_tokens} tokens + max_tokens {max_tokens} > "
                      f"{model.context_window} maximum")
    return req


def _check_message(i: int, msg, *, last: bool) -> None:
    if not isinstance(msg, dict):
        raise invalid(f"messages.{i}: Input should be a valid dictionary")
    if msg.get("role") not in ROLES:
        raise invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
    content = msg.get("content")
    if isinstance(content, str):
        if not content and not (last and msg["role"] == "assistant"):
            raise invalid(f"messages.{i}: all messages must have non-empty content except for the "
                          "optional final assistant message")
        return
    if not isinstance(content, list) or not content:
        raise invalid(f"messages.{i}.content: Input should be a non-empty string or list of blocks")
    for j, block in enumerate(content):
        _check_block(f"messages.{i}.content.{j}", block)


def _check_system(system) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise invalid("system: Input should be a valid string or a list of text blocks")
    for j, block in enumerate(system):
        _check_block(f"system.{j}", block)
        if block.get("type") != "text":
            raise invalid(f"system.{j}.type: Input should be 'text'")


def _check_block(where: str, block) -> None:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise invalid(f"{where}: Input should be a content block with a 'type'")
    if block["type"] == "text" and not isinstance(block.get("text"), str):
        raise invalid(f"{where}.text: Field required")
    if block["type"] == "tool_result" and not isinstance(block.get("content", ""), str | list):
        raise invalid(f"{where}.content: Input should be a valid string or list of blocks")
    cc = block.get("cache_control")
    if cc is None:
        return
    if not isinstance(cc, dict) or cc.get("type") != "ephemeral":
        raise invalid(f"{where}.cache_control.type: Input should be 'ephemeral'")
    if cc.get("ttl", "5m") not in ("5m", "1h"):
        raise invalid(f"{where}.cache_control.ttl: Input should be '5m' or '1h'")


def _check_breakpoints(system, messages) -> None:
    blocks = list(system) if isinstance(system, list) else []
    for msg in messages:
        if isinstance(msg.get("content"), list):
            blocks.extend(msg["content"])
    found = sum(1 for b in blocks if b.get("cache_control") is not None)
    if found > MAX_BREAKPOINTS:
        raise invalid(f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
                      f"Found {found}.")
