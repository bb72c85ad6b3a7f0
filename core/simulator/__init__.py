"""An Anthropic-compatible API simulator on loopback, for tests and offline demos.

``Simulator`` speaks /v1/messages (JSON and SSE), /v1/messages/count_tokens and /v1/models
closely enough that the official SDK cannot tell, with prompt caching, rate limits, key
rejection and faults on demand (header ``x-simulate-fault`` or a script via /_sim/faults).
"""

from .faults import FAULT_KINDS
from .server import Simulator, serve

__all__ = ["FAULT_KINDS", "Simulator", "serve"]
