"""The guarded client: the public client, a call's stages and run, the stream, async, quotes and sinks.

``GuardedClient`` and ``ClientOptions`` load on first use, so importing a sibling module stays light.
"""

from __future__ import annotations

__all__ = ["ClientOptions", "GuardedClient"]


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module 'core.client' has no attribute {name!r}")
    from core.client import guarded

    return getattr(guarded, name)
