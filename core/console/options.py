"""The playground's request options: tools written as JSON, the tool choice, and extended thinking.

Each builder checks what an analyst typed and raises a ``ValidationError`` with one line saying what
to fix (a JSON error's line and column, the tool at fault), so the page never sends a request the API
would refuse for a reason we can see here.
"""

from __future__ import annotations

import json
import re

from core.errors import ValidationError
from core.guards import shapes

EXAMPLE_TOOLS = json.dumps([{
    "name": "get_weather",
    "description": "The current weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"},
                       "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"],
    },
}], indent=2)
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # the API's pattern for a custom tool's name
CHOICES = ("auto", "any", "none")  # and "tool: <name>" for each tool defined
MIN_THINKING_BUDGET = 1024  # tokens: the API's floor for budget_tokens


def parse_tools(text: str) -> list[dict]:
    """The tools an analyst wrote: a JSON list of tool objects (one object alone is taken as a list of one)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"Tools are not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
                              field="tools") from None
    tools = [value] if isinstance(value, dict) else value
    if not isinstance(tools, list) or not tools:
        raise ValidationError("Tools must be a JSON list of tool objects, each with a name and an input_schema.",
                              field="tools")
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise ValidationError(f"Tool {i + 1} is not a JSON object.", field="tools")
        if tool.get("type", "custom") != "custom":
            continue  # a server tool (web_search, …): its shape is the SDK's to check below
        name = tool.get("name")
        if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
            raise ValidationError(f"Tool {i + 1}'s name must be 1-64 letters, digits, _ or - "
                                  f"(got {json.dumps(name)[:70]}).", field="tools")
        if name in seen:
            raise ValidationError(f"Two tools are named {name}: tool names must be unique.", field="tools")
        seen.add(name)
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise ValidationError(f"Tool {name} needs an input_schema that is a JSON Schema object "
                                  '({"type": "object", "properties": {…}}).', field="tools")
    shapes.check(shapes.TOOLS, tools, "tools", "tools")
    return tools


def tool_names(tools: list[dict]) -> list[str]:
    return [t["name"] for t in tools if isinstance(t.get("name"), str)]


def choice_labels(tools: list[dict]) -> list[str]:
    """The tool-choice selector's options: auto, any, none, then one per named tool."""
    return [*CHOICES, *(f"tool: {n}" for n in tool_names(tools))]


def tool_choice(label: str, tools: list[dict]) -> dict:
    """The API's ``tool_choice`` for a selector label."""
    if label in CHOICES:
        return {"type": label}
    name = label.removeprefix("tool: ")
    if not label.startswith("tool: ") or name not in tool_names(tools):
        raise ValidationError(f"No tool named {name} is defined.", field="tool_choice")
    return {"type": "tool", "name": name}


def thinking(budget: int, max_tokens: int) -> dict:
    """Extended thinking with ``budget`` tokens; it must be at least 1,024 and below ``max_tokens``."""
    if budget < MIN_THINKING_BUDGET:
        raise ValidationError(f"The thinking budget must be at least {MIN_THINKING_BUDGET:,} tokens.",
                              field="thinking")
    if budget >= max_tokens:
        raise ValidationError(f"The thinking budget ({budget:,}) must be below max output tokens "
                              f"({max_tokens:,}): raise max output tokens or lower the budget.", field="thinking")
    return {"type": "enabled", "budget_tokens": budget}


def request_params(*, temperature: float, max_tokens: int, tools: list[dict] | None = None,
                   choice: str = "auto", thinking_budget: int | None = None) -> dict:
    """The extra body fields of a playground call (temperature, tools, tool_choice, thinking).

    Thinking needs temperature 1 (the API refuses any other), and allows only the ``auto`` and
    ``none`` tool choices, so those are settled here rather than by a 400.
    """
    params: dict = {"temperature": temperature}
    if thinking_budget is not None:
        params["thinking"] = thinking(thinking_budget, max_tokens)
        params["temperature"] = 1.0
    if tools:
        params["tools"] = tools
        params["tool_choice"] = tool_choice(choice, tools)
        if thinking_budget is not None and params["tool_choice"]["type"] not in ("auto", "none"):
            raise ValidationError("With thinking on, the tool choice can only be auto or none (the API "
                                  "refuses forcing a tool).", field="tool_choice")
    return params
