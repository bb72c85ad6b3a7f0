"""Tollgate's typed errors, in one place (the SDK's are turned into them by core.upstream.sdk_errors).

Every error carries a stable ``code`` (safe to branch on and to store in the
ledger), a ``retryable`` flag, a message an analyst can act on, and the
upstream ``request_id`` when there is one. Messages never contain an API key:
every message passes through ``scrub``, which masks anything key-shaped.
"""

from __future__ import annotations

from decimal import Decimal

from core.redact import KEY_CHARS, KEY_SHAPED, key_pattern, mask_url_passwords, scrub  # noqa: F401 - re-exported


class TollgateError(Exception):
    """Base of every error the guarded client raises."""

    code = "error"
    retryable = False
    default_message = "The call failed."

    def __init__(self, message: str | None = None, *, request_id: str | None = None,
                 status_code: int | None = None) -> None:
        self.message = scrub(message or self.default_message)
        self.request_id = request_id
        self.status_code = status_code
        super().__init__(self.message)

    def to_dict(self) -> dict:
        """The error as the CLI's and the API's JSON shape."""
        return {"code": self.code, "message": self.message,
                "retryable": self.retryable, "request_id": self.request_id}

    def __reduce__(self):  # keep pickling (multiprocessing) working with kw-only args
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls, state):
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    Exception.__init__(obj, state.get("message", ""))
    return obj


# --- refused before anything is sent -------------------------------------------------

class ValidationError(TollgateError):
    code = "validation_error"
    default_message = "The request is not valid."

    def __init__(self, message: str | None = None, *, field: str | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.field = field


class UnknownModel(ValidationError):
    code = "unknown_model"

    def __init__(self, model: str, known: list[str]) -> None:
        super().__init__(f"Unknown model {model!r}. Known models: {', '.join(sorted(known))}.",
                         field="model")
        self.model = model
        self.known = sorted(known)


class PromptBlocked(ValidationError):
    code = "prompt_blocked"

    def __init__(self, phrases: list[str]) -> None:
        super().__init__("The prompt was blocked by the prompt-injection screen "
                         f"(matched: {', '.join(phrases)}).", field="messages")
        self.phrases = phrases


class RateLimited(TollgateError):
    """Tollgate's own limiter refused: waiting would exceed the allowed wait."""

    code = "rate_limited"
    retryable = True

    def __init__(self, limit: str, retry_after_s: float, *, user: str | None = None) -> None:
        who = f" for user {user!r}" if user else ""
        super().__init__(f"Client-side limit reached ({limit}{who}). Try again in "
                         f"{retry_after_s:.1f} s.")
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.user = user


class SharedStateUnavailable(TollgateError):
    """The Redis that holds limits shared across replicas is unreachable and the failure mode is closed."""

    code = "shared_state_unavailable"
    retryable = True

    def __init__(self, part: str = "rate limits", retry_after_s: float = 1.0) -> None:
        super().__init__(f"The shared store of {part} (Redis) cannot be reached, so the call was not sent "
                         f"(TOLLGATE_SHARED_STATE_FAILURE=closed). Try again in {retry_after_s:.0f} s; an "
                         "operator can set it to open to fall back to per-process limits.")
        self.part = part
        self.retry_after_s = retry_after_s


class BudgetExceeded(TollgateError):
    code = "budget_exceeded"

    def __init__(self, user: str, remaining_usd: Decimal, needed_usd: Decimal,
                 scope: str = "user", *, message: str | None = None, fits: int | None = None) -> None:
        from core.money import usd

        owner = "The organisation's monthly budget" if scope == "global" else f"The monthly budget of {user!r}"
        super().__init__(message or f"{owner} does not cover this call: "
                         f"{usd(remaining_usd)} left, up to {usd(needed_usd)} needed. "
                         "Lower max_tokens, shorten the prompt or ask an admin to raise the budget.")
        self.fits = fits  # a batch: how many of its rows, in order, would fit what is left
        self.user = user
        self.remaining_usd = remaining_usd
        self.needed_usd = needed_usd
        self.scope = scope


class CircuitOpen(TollgateError):
    code = "circuit_open"
    retryable = True

    def __init__(self, retry_after_s: float) -> None:
        super().__init__("The Claude API has been failing; calls are paused to let it recover. "
                         f"Next attempt allowed in {retry_after_s:.1f} s.")
        self.retry_after_s = retry_after_s


class CallInProgress(TollgateError):
    """Another call with the same idempotency key is still being answered: try again shortly."""

    code = "idempotency_in_progress"
    retryable = True
    default_message = "A call with this idempotency key is still in progress; try again shortly."


class BatchNotEnded(TollgateError):
    """A Message Batch's results were asked for before it ended."""

    code = "batch_not_ended"
    retryable = False  # not a fault to retry at once: ask again once the batch has ended
    default_message = "The batch has not ended yet: its results are available once processing_status is ended."


class BatchInRun(TollgateError):
    """A Message Batch a batch run still reads was asked to be deleted: its results would be lost to the run."""

    code = "batch_in_run"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"Message Batch belongs to batch run {run_id}, which has not read its results yet: "
                         "cancel the run or wait for it to end, then delete the batch.", status_code=409)
        self.run_id = run_id


class RunNotFound(TollgateError):
    """No batch run with that id, or none the caller may see (the same answer, so an id reveals nothing)."""

    code = "run_not_found"
    default_message = "No such batch run."

    def __init__(self, run_id: str | None = None) -> None:
        shown = run_id if isinstance(run_id, str) and len(run_id) <= 64 and run_id.isprintable() else "(invalid)"
        super().__init__(f"No batch run {shown!r}: check the id (python -m core batch list).", status_code=404)
        self.run_id = shown


class BadTableFile(ValidationError):
    """A batch run's input table that cannot be used: wrong kind, too large, unreadable, empty or ragged."""

    code = "bad_table_file"


class NotConfigured(TollgateError):
    code = "not_configured"
    default_message = "Tollgate is not configured for this call."


class ConfigError(TollgateError, ValueError):
    """A setting with a value Tollgate cannot use; ``variable`` names it (a ValueError too, as before)."""

    code = "config_error"
    default_message = "A setting is not valid."

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable} {message}")
        self.variable = variable


class DataFileError(ConfigError):
    """A data file (price table, model catalogue) Tollgate cannot use; ``path`` and ``field`` name the spot."""

    code = "data_file_error"

    def __init__(self, path: str, field: str, message: str) -> None:
        TollgateError.__init__(self, f"{path}: {field}: {message}" if field else f"{path}: {message}")
        self.variable = path
        self.path = path
        self.field = field


class LedgerUnavailable(TollgateError):
    code = "ledger_unavailable"
    retryable = True
    default_message = ("The usage ledger cannot be reached, so budgets cannot be checked; "
                       "the call was not sent.")


class OutcomeUnknown(TollgateError):
    """A keyed call's process died while it was in flight: the API may have answered, and billed, it."""

    code = "outcome_unknown"
    default_message = "The process died while this call was in flight: the API may have answered and billed it."


class CostUnbounded(TollgateError):
    code = "cost_unbounded"
    retryable = True
    default_message = ("This call has PDFs or images or documents given by URL or file id, whose tokens only "
                       "Anthropic's token count can bound, and that count failed; the call was not sent, so the "
                       "budget is safe. Try again shortly.")


class NotAuthorised(TollgateError):
    """A local admin operation (users, budgets, demo data) asked for by someone who is not an admin."""

    code = "not_authorised"

    def __init__(self, action: str, principal=None) -> None:
        who = getattr(principal, "username", None)
        role = getattr(principal, "role", None)
        why = f"{who!r} has the role {role!r}." if who else "log in as an admin first."
        super().__init__(f"Only an admin can {action}; {why}")
        self.action = action


class InvalidApiKey(TollgateError):
    """A gateway request without a usable Tollgate key or token (missing, unknown, revoked, expired, bad JWT)."""

    code = "invalid_api_key"

    def __init__(self, why: str = "no key was given") -> None:
        super().__init__(f"Not authenticated: {why}. Send a Tollgate key in x-api-key (or "
                         "Authorization: Bearer), or a token from the company's identity provider.")
        self.why = why


class ModelNotAllowed(TollgateError):
    """The caller's Tollgate key may not use the model it asked for."""

    code = "model_not_allowed"

    def __init__(self, model: str, allowed: list[str]) -> None:
        super().__init__(f"This key may not use model {model!r}; it may use: {', '.join(allowed)}.")
        self.model = model
        self.allowed = allowed


# --- answered by the API --------------------------------------------------------------

class UpstreamError(TollgateError):
    """An error the API (or the network to it) returned."""

    retry_after_s: float | None = None  # what the server's retry-after headers asked for
    api_message: str | None = None  # the API's own error.message (scrubbed), when it sent one


class InvalidRequest(UpstreamError):
    code = "invalid_request"
    default_message = "The API rejected the request as invalid."


class AuthenticationFailed(UpstreamError):
    code = "authentication_error"
    default_message = "The API key was rejected. Ask an admin to check the configured key."


class PermissionDenied(UpstreamError):
    code = "permission_error"
    default_message = "This API key is not allowed to use that model or feature."


class NotFound(UpstreamError):
    code = "not_found"
    default_message = "The API did not find that model or resource."


class RequestTooLarge(UpstreamError):
    code = "request_too_large"
    default_message = "The request is larger than the API accepts. Shorten the prompt."


class UpstreamRateLimited(UpstreamError):
    code = "upstream_rate_limited"
    retryable = True
    default_message = "Anthropic's rate limit was reached. Try again shortly."


class SpendCapReached(UpstreamError):
    code = "spend_cap_reached"
    default_message = ("The organisation's monthly Anthropic spend cap is reached. Access "
                       "resumes at 00:00 UTC on the 1st, or when an admin raises the cap.")


class Overloaded(UpstreamError):
    code = "overloaded"
    retryable = True
    default_message = "Claude is overloaded right now. Try again in a minute."


class UpstreamServerError(UpstreamError):
    code = "upstream_server_error"
    retryable = True
    default_message = "The Claude API had an internal error. Try again shortly."


class ConnectionFailed(UpstreamError):
    code = "connection_error"
    retryable = True
    default_message = "Could not reach the Claude API (network or DNS problem)."


class Timeout(UpstreamError):
    code = "timeout"
    retryable = True
    default_message = "The Claude API did not answer in time."


class MalformedResponse(UpstreamServerError):
    """The API's reply (a JSON body or a stream event) could not be parsed: a server-side fault."""

    code = "malformed_response"
    default_message = "The Claude API sent a reply that could not be read. Try again shortly."


class StreamInterrupted(UpstreamError):
    """A stream broke after text had started to arrive; ``partial_text`` holds what came.

    ``cause`` is the typed error behind it (an error event's type, a Timeout, a MalformedResponse),
    or None when the stream simply ended before ``message_stop``.
    """

    code = "stream_interrupted"
    retryable = False

    def __init__(self, message: str | None = None, *, partial_text: str = "",
                 cause: TollgateError | None = None, **kw) -> None:
        super().__init__(message or "The answer was cut off part-way through.", **kw)
        self.partial_text = partial_text
        self.cause = cause
