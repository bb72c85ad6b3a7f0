"""The guarded clients alive in this process, so /readyz and /metrics can reach them.

``build_client`` registers every client it builds (weakly: a client nobody holds is
forgotten) and ``close`` unregisters it. The web routes read this list instead of importing
the console's page code, where the process's client is cached (``pages/widgets.py``), so they
work the same for the console, a library user's service, or a test.
"""

from __future__ import annotations

import itertools
import threading
import weakref

_clients: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # order number -> client
_order = itertools.count()
_lock = threading.Lock()


def register(client) -> None:
    """Make ``client`` visible to the health routes and the metrics collector."""
    with _lock:
        if not any(c is client for c in _clients.values()):
            _clients[next(_order)] = client


def unregister(client) -> None:
    with _lock:
        for n in [n for n, c in _clients.items() if c is client]:
            del _clients[n]


def clients() -> list:
    """The live registered clients, oldest first."""
    with _lock:
        return [c for _, c in sorted(_clients.items())]
