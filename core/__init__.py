"""Tollgate's guarded Claude client: ``from core import build_client``.

Names are loaded on first use, so ``python -m core simulate`` and small imports stay light.
"""

from __future__ import annotations

__all__ = ["GuardedClient", "Settings", "build_client", "errors", "load_settings"]

_LAZY = {"GuardedClient": ("core.client.guarded", "GuardedClient"), "Settings": ("core.config", "Settings"),
         "build_client": ("core.factory", "build_client"), "load_settings": ("core.config", "load_settings"),
         "errors": ("core.errors", None)}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'core' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    mod = importlib.import_module(module)
    return mod if attr is None else getattr(mod, attr)
