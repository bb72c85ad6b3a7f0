"""The guarded Claude client: every call flows one way through the same checks.

validate → one canonical pass (prompt hash, cache key, prompt-cache flag) → response cache →
breaker (an open circuit refuses at once, holding nothing) → budget reservation → limiter →
retry(SDK call) → price → settle → the recorder's sinks (ledger first, then logs, metrics,
span, Sentry, budget alerts). A refusal at any step is recorded too. An admitted call is a
``core.client.run.CallRun``, which ``create`` and the stream both settle.
Built only by ``core.factory.build_client``; every collaborator is injected.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import random
import uuid
import weakref
from dataclasses import dataclass
from decimal import Decimal

from core.cache import CachedResponse, cacheable
from core.cache.keys import digest_request
from core.client import idempotent
from core.client.pipeline import Call, Recorder
from core.client.run import CallRun
from core.client.stream import GuardedStream
from core.errors import TollgateError, ValidationError
from core.guards import validation
from core.observability import registry, tracing
from core.observability.redact import redact
from core.types import STATUS_CACHED, CallResult

log = logging.getLogger("tollgate")
_OPEN: weakref.WeakSet = weakref.WeakSet()  # clients not closed yet


@atexit.register
def _close_at_exit() -> None:
    """A script that ends without close(): store its queued records and close its database.

    Registered when this module is imported, so it runs after every atexit hook registered later.
    Without it, a DuckDB connection torn down at interpreter finalisation aborts the process.
    """
    for client in list(_OPEN):
        try:
            client.close()
        except Exception:  # noqa: BLE001 - exiting anyway: close the others
            log.exception("closing a guarded client at exit failed")


@dataclass(frozen=True)
class ClientOptions:
    """Per-client behaviour (the rest lives in the collaborators)."""

    default_model: str = "claude-sonnet-5-5"
    default_max_tokens: int = 1024
    cache_ttl_s: float = 3600.0
    cache_sampling: bool = False
    cache_scope: str = "user"  # user: answers are reused for the same user only; shared: for anyone
    store_prompts: bool = False
    source: str = "library"
    log_prompts: bool = False  # redacted prompts and replies in call logs
    metrics_per_user: bool = False  # cost by user in Prometheus
    tracing: str = "auto"  # OpenTelemetry spans: auto, on, off


class GuardedClient:
    """Validated, limited, retried, broken-off, priced, cached and recorded Claude calls."""

    def __init__(self, *, transport, catalogue, pricing, limiter, breaker, retrier, cache, ledger, budgets,
                 gate, policy: validation.ValidationPolicy, options: ClientOptions, clock, recorder: Recorder,
                 settings=None, base_url: str | None = None, closers: list | None = None, idempotency=None) -> None:
        self.transport, self.catalogue, self.pricing = transport, catalogue, pricing
        self.limiter, self.breaker, self.retrier = limiter, breaker, retrier
        self.cache, self.ledger, self.budgets = cache, ledger, budgets
        self.policy, self.options, self.clock = policy, options, clock
        self.recorder = recorder  # its sinks were listed by the factory
        self.settings, self.base_url = settings, base_url
        self.demo = settings is not None and not settings.keys  # no key: calls go to the simulator
        self.closers: list = closers if closers is not None else []  # what the factory started for us
        self.gate = gate
        self.idempotency = idempotency  # core.ledger.idempotency.IdempotencyStore, with the ledger
        self.batches = None  # core.client.batches.GuardedBatches, set by the factory
        _OPEN.add(self)

    # --- public API -------------------------------------------------------------------------

    def create(self, prompt: str | None = None, *, user: str, model: str | None = None, messages=None,
               system=None, max_tokens: int | None = None, use_cache: bool = True, source: str | None = None,
               api_key_id: str | None = None, run_id: str | None = None, row_index: int | None = None,
               idempotency_key: str | None = None, run_hold: str | None = None, **params) -> CallResult:
        """One guarded call; raises a ``core.errors`` type on any refusal or failure.

        ``api_key_id``: the gateway caller's Tollgate key (its public id), kept on the ledger row; ``run_id``
        and ``row_index``: the batch run and row it belongs to. ``idempotency_key``: a key already answered
        returns that answer (``replayed``), sent and billed once (core.client.idempotent). ``run_hold``: the
        id of a budget hold made ahead for this call (a batch run's row), which the call's own reservation
        replaces in one transaction, so nobody else can take that share in between.
        """
        call = self._begin(prompt, user, model, messages, system, max_tokens, params, use_cache,
                           source, streamed=False, api_key_id=api_key_id,
                           tags={"run_id": run_id, "row_index": row_index, "idempotency_key": idempotency_key,
                                 "run_hold": run_hold})
        if isinstance(call, CallResult):
            return call
        run = CallRun(self, call)
        return run.succeed(run.send(self.transport.create))

    def stream(self, prompt: str | None = None, *, user: str, model: str | None = None, messages=None,
               system=None, max_tokens: int | None = None, use_cache: bool = True, source: str | None = None,
               api_key_id: str | None = None, run_id: str | None = None, row_index: int | None = None,
               idempotency_key: str | None = None, run_hold: str | None = None, **params) -> GuardedStream:
        """A guarded streaming call: iterate for text deltas (or ``events()`` for every SDK event), then
        read ``.result`` / ``get_final_message()``.

        Refusals (validation, budget, limits, open circuit) raise here, before any iteration.
        """
        call = self._begin(prompt, user, model, messages, system, max_tokens, params, use_cache,
                           source, streamed=True, api_key_id=api_key_id,
                           tags={"run_id": run_id, "row_index": row_index, "idempotency_key": idempotency_key,
                                 "run_hold": run_hold})
        return GuardedStream(call if isinstance(call, CallResult) else CallRun(self, call))

    def count_tokens(self, prompt: str | None = None, *, model: str | None = None, messages=None,
                     system=None, exact: bool = False, **params) -> int:
        """Input tokens of a request: the offline per-family estimate, or Anthropic's count if ``exact``.

        ``params`` are the request's other fields (tools, tool_choice, thinking, extra_headers, ...):
        validated like a call's, and sent to the exact count (documents and images are in ``messages``).
        """
        messages = messages if messages is not None else validation.as_messages(prompt or "")
        model = self.options.default_model if model is None or (isinstance(model, str) and not model) else model
        v = validation.validate(model, messages, max_tokens=1, system=system,
                                catalogue=self.catalogue, policy=self.policy, params=params)
        if not exact:
            return v.prompt_tokens
        body = {"model": v.model, "messages": messages, **({"system": system} if system else {}),
                **{k: val for k, val in params.items() if val is not None}}
        return self.transport.count_tokens(body)

    def close(self) -> None:
        """Stop what the factory started for this client and flush background records."""
        _OPEN.discard(self)
        registry.unregister(self)
        self.recorder.close()
        for closer in reversed(self.closers):
            closer()
        self.closers.clear()

    def __enter__(self) -> GuardedClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the pipeline ---------------------------------------------------------------------

    def _begin(self, prompt, user, model, messages, system, max_tokens, params, use_cache, source, streamed,
               api_key_id=None, tags=None):
        model = self.options.default_model if model is None or (isinstance(model, str) and not model) else model
        tags = tags or {}
        # The call's user and model are what logs, metrics and the refusal row show: never raw bad input.
        call = Call(id=_call_id(), user=_label(user.strip() if isinstance(user, str) else "", 200),
                    model=_label(model, 100), source=source or self.options.source, streamed=streamed,
                    started=self.clock.monotonic(), ts=self.clock.now(), api_key_id=api_key_id,
                    run_id=_label(tags["run_id"], 36) if tags.get("run_id") is not None else None,
                    row_index=tags.get("row_index") if isinstance(tags.get("row_index"), int) else None,
                    run_hold=tags["run_hold"] if isinstance(tags.get("run_hold"), str) else None)
        if self.options.tracing != "off":
            call.span = tracing.start(self.options.tracing, call.model, streamed)
        try:
            _check_user(user)
            if tags.get("idempotency_key") is not None:
                key = idempotent.check_key(tags["idempotency_key"])
            messages = messages if messages is not None else validation.as_messages(prompt or "")
            max_tokens = self.options.default_max_tokens if max_tokens is None else max_tokens
            call.max_tokens = max_tokens
            v = validation.validate(model, messages, max_tokens=max_tokens, system=system,
                                    temperature=params.get("temperature"), catalogue=self.catalogue,
                                    policy=self.policy, params=params)
        except TollgateError as err:
            self.recorder.refused(call, err, prompt_sha=_sha(messages if messages is not None else prompt))
            raise
        if self.options.log_prompts:  # after validation: only text that can be encoded reaches the logs
            call.log_prompt = redact(json.dumps({"system": system, "messages": messages}, ensure_ascii=False,
                                                default=str))
        call.model, call.flags, call.prompt_tokens = v.model, tuple(v.flags), v.prompt_tokens
        call.tokenizer = v.info.tokenizer
        call.body = {"model": v.model, "messages": messages, "max_tokens": max_tokens,
                     **({"system": system} if system else {}),
                     **{k: val for k, val in params.items() if val is not None}}
        # One walk and one serialisation: the prompt hash, the cache key and the prompt-cache flag.
        digest = digest_request(v.model, system, messages, {"max_tokens": max_tokens, **params})
        call.prompt_sha, call.cache_writes = digest.sha256, digest.cache_marked
        if self.options.store_prompts:
            call.prompt_text = json.dumps({"system": system, "messages": messages}, ensure_ascii=False)
        if tags.get("idempotency_key") is not None:
            call.idempotency_key = key  # claimed only now: a refused request holds no key
            try:
                replay = idempotent.begin(self, call)
            except TollgateError as err:
                self.recorder.refused(call, err)
                raise
            if replay is not None:
                return replay
        try:
            hit = self._look_up(call, digest, params, use_cache)
            if hit is not None:
                return hit
            self._admit(call, v, max_tokens)
        except BaseException:
            idempotent.abandon(self, call)
            raise
        return call

    def _look_up(self, call: Call, digest, params: dict, use_cache: bool) -> CallResult | None:
        """The response cache's answer for this call, recorded as a hit; None on a miss."""
        if use_cache and self.cache is not None and cacheable(params, allow_sampling=self.options.cache_sampling):
            # "user" scope: only this user's own answers are reused; "shared": anyone's.
            call.cache_key = digest.key(call.user if self.options.cache_scope == "user" else None)
            hit = None if call.cache_key is None else self.cache.get(call.cache_key)
            if hit is not None:
                result = self._cache_hit(call, hit)
                idempotent.finish(self, call, result)
                return result
        return None

    def _admit(self, call: Call, v, max_tokens: int) -> None:
        """Breaker, then budget, then limiter: the cheap in-memory refusal first, so it holds nothing."""
        try:
            self.breaker.before_call()
        except TollgateError as err:
            self.recorder.refused(call, err)
            raise
        try:
            if self.gate is not None:  # reserve the worst case against the user's (and the global) budget
                call.reservation = self.gate.reserve(call, v, max_tokens)
            call.permit = self.limiter.acquire(call.user, v.prompt_tokens, max_tokens)
        except BaseException as exc:
            # Refused here, before anything was sent: a local outcome frees a half-open probe, counts nothing.
            self.breaker.record_failure(TollgateError(f"Refused before it was sent: {type(exc).__name__}"))
            if isinstance(exc, TollgateError):
                self.recorder.refused(call, exc)
            raise

    def _cache_hit(self, call: Call, hit: CachedResponse) -> CallResult:
        message = hit.whole_message()  # a copy: the caller may change what it is given
        latency = (self.clock.monotonic() - call.started) * 1000
        result = CallResult(text=hit.text, model=hit.model, usage=hit.usage, cost_usd=Decimal(0),
                            price_version=hit.price_version, cached=True, latency_ms=latency,
                            request_id=hit.request_id, stop_reason=hit.stop_reason,
                            tokens_saved=hit.usage.total_tokens, flags=call.flags,
                            content=message["content"], stop_sequence=message.get("stop_sequence"),
                            usage_detail=message.get("usage") or {}, message=message)
        result.ledger_id = self.recorder.cached(call, result, STATUS_CACHED)
        return result


def _call_id() -> str:
    """A random (version 4) UUID without a system call per call: ids need uniqueness, not secrecy."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


def _sha(obj) -> str:
    """SHA-256 of the request as JSON; refused input that JSON cannot hold still gets a (type-only) hash."""
    try:
        text = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    except Exception:  # noqa: BLE001 - too deep, circular, unsortable keys, a failing __str__: still refused
        text = f"<unserialisable {type(obj).__name__}>"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _label(value, limit: int) -> str:
    """``value`` when it is printable text of at most ``limit`` characters, else a placeholder."""
    return value if isinstance(value, str) and len(value) <= limit and value.isprintable() else "(invalid)"


def _check_user(user) -> None:
    """A user id the ledger and budgets can hold: 1-200 printable characters, not the global "*"."""
    if user is not None and not isinstance(user, str):
        raise ValidationError(f"The user must be text (a user id), not {type(user).__name__}.", field="user")
    user = (user or "").strip()
    if not user:
        raise ValidationError("A user is required, so that cost and limits can be attributed.", field="user")
    if user == "*" or len(user) > 200 or not user.isprintable():
        raise ValidationError("The user id must be 1 to 200 printable characters, and not \"*\" (which "
                              "names the organisation-wide budget).", field="user")
