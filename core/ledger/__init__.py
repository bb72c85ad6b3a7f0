"""The usage ledger: engines, schema migrations, durable recording with a spool, and queries.

The names below load on first use, so that a module of the package (the spool, the record
format) can be imported without SQLAlchemy: the CLI records a refused call that way in well
under a second.
"""

from importlib import import_module

_HOME = {"make_engine": "core.ledger.engine", "mask_url": "core.ledger.engine",
         "migrate": "core.ledger.migrations", "Spool": "core.ledger.spool", "Ledger": "core.ledger.store"}

__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'core.ledger' has no attribute {name!r}")
    return getattr(import_module(_HOME[name]), name)
