"""The usage ledger: engines, schema migrations, durable recording with a spool, and queries."""

from core.ledger.engine import make_engine, mask_url
from core.ledger.migrations import migrate
from core.ledger.spool import Spool
from core.ledger.store import Ledger

__all__ = ["Ledger", "Spool", "make_engine", "mask_url", "migrate"]
