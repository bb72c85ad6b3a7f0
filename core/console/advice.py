"""What an analyst should do about a typed error: wait N s, budget left $X, API paused until HH:MM."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from core import errors
from core.money import usd


def _clock(now: datetime, seconds: float, tz: tzinfo | None) -> str:
    at = (now + timedelta(seconds=seconds)).astimezone(tz)
    return at.strftime("%H:%M:%S") if seconds < 3600 else at.strftime("%Y-%m-%d %H:%M")


def advice(err: errors.TollgateError, now: datetime, tz: tzinfo | None = None) -> str:
    """One sentence of what to do next; ``now`` is aware, times are shown in ``tz``."""
    if isinstance(err, errors.BudgetExceeded):
        who = "The organisation's budget" if err.scope == "global" else "Your budget"
        return (f"{who} has {usd(err.remaining_usd)} left this month and this call could cost up to "
                f"{usd(err.needed_usd)}: lower max tokens or shorten the prompt, or ask an admin to raise it.")
    if isinstance(err, errors.CircuitOpen):
        return (f"The API is paused after repeated failures until {_clock(now, err.retry_after_s, tz)} "
                f"(in {err.retry_after_s:.0f} s); send again after that. The Health page shows its state.")
    if isinstance(err, errors.RateLimited):
        return f"Wait {err.retry_after_s:.0f} s and send again (limit: {err.limit})."
    if isinstance(err, errors.SpendCapReached):
        return "Nothing to retry until an admin raises the organisation's Anthropic spend cap."
    if isinstance(err, errors.UpstreamError) and err.retryable:
        wait = err.retry_after_s
        return f"Wait {wait:.0f} s and send again." if wait else "Send again in a minute; check Health if it persists."
    if isinstance(err, errors.AuthenticationFailed | errors.PermissionDenied):
        return "Ask an admin to check the API key on the Health page."
    if isinstance(err, errors.StreamInterrupted):
        return "The part that arrived is kept above; send again for a complete answer."
    if isinstance(err, errors.LedgerUnavailable):
        return "Send again shortly; an admin can check the ledger on the Health page."
    if isinstance(err, errors.ValidationError):
        return "Change the input as the message says and send again."
    return "Send again; if it keeps failing, an admin can check the Health page."
