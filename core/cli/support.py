"""Support for ``python -m core``'s command groups: argument checks, output, the ledger opened or why not.

Each check raises a ``ValidationError`` (or returns a ``LedgerUnavailable``) whose message is the one
line the CLI prints: what is wrong and what to do. Heavy modules are imported inside the functions.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal, InvalidOperation

from core import money
from core.errors import LedgerUnavailable, TollgateError, ValidationError, scrub

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
POSTGRES_HINT = "set TOLLGATE_LEDGER_URL to a shared PostgreSQL (postgresql+psycopg://…)"


def emit(obj, as_json: bool, text: str | None = None) -> None:
    """``obj`` as one JSON line, or ``text`` (``obj`` itself when None) for a person."""
    print(json.dumps(obj, default=str, ensure_ascii=False) if as_json else (text if text is not None else obj))


def fail(err: TollgateError, as_json: bool) -> int:
    """A typed error as ``{"error": …}`` on stdout (JSON) or one ``error [code]: …`` line on stderr; exit 2."""
    if as_json:
        print(json.dumps({"error": err.to_dict()}))
    else:
        print(f"error [{err.code}]: {err.message}", file=sys.stderr)
    return 2


@contextmanager
def stores() -> Iterator[tuple]:
    """(settings, ledger, budgets, engine), the ledger opened (or one line saying why not); disposed after."""
    from core.clock import SystemClock
    from core.config import load_settings
    from core.factory import build_stores

    settings = load_settings()
    if not settings.ledger_url:
        raise TollgateError("The ledger is off (TOLLGATE_LEDGER_URL=off).")
    ledger, budgets, engine = build_stores(settings, SystemClock())
    try:  # disposed, so the DuckDB file is free again when the command returns (in-process callers too)
        problem = ledger_problem(ledger)
        if problem is not None:
            raise problem
        yield settings, ledger, budgets, engine
    finally:
        engine.dispose()


def plain(d: Decimal) -> str:
    """A Decimal as plain digits (``0.00000000``, ``1000000``), never exponent notation."""
    return format(d, "f")


def emit_frame(df, as_json: bool, empty: str) -> int:
    """A DataFrame as JSON records or a text table; money as plain exact decimals, dates as ISO strings."""
    def cell(v):
        if isinstance(v, Decimal):
            return plain(v)
        return v.isoformat() if hasattr(v, "isoformat") else v

    rows = [{k: cell(v) for k, v in row.items()} for row in df.to_dict(orient="records")]
    if as_json:
        print(json.dumps(rows, default=str, ensure_ascii=False))
    elif not rows:
        print(empty)
    else:
        print(type(df)(rows, columns=df.columns).to_string(index=False))
    return 0


def unexpected(exc: BaseException) -> int:
    """The last resort for a fault nobody typed: one scrubbed line on stderr, exit 1."""
    from core.errors import scrub

    first = str(exc).splitlines()[0] if str(exc) else ""
    print(f"error: unexpected {type(exc).__name__}: {scrub(first)} (run with -v for the traceback)",
          file=sys.stderr)
    return 1


def bounded_int(low: int, high: int, what: str):
    """An argparse type: an integer from ``low`` to ``high``, else one usage line naming the range."""
    import argparse

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} must be from {low} to {high:,}, got {value:,}")
        return value
    return parse


def budget_usd(raw: str) -> Decimal:
    """``--usd`` as a finite amount from $0 to the cap, with at most the ledger's 10 decimal places."""
    from core.budgets.amounts import MAX_MONTHLY_USD, check_budget_amount

    try:
        amount = Decimal(raw.strip().removeprefix("$"))
    except InvalidOperation:
        raise ValidationError(f'--usd must be an amount in USD such as 25 or 25.50; got {raw!r}.',
                              field="usd") from None
    try:
        return check_budget_amount(amount)
    except ValueError as exc:
        raise ValidationError(f"--usd {raw}: {exc} (the cap is {money.usd(MAX_MONTHLY_USD)} a month).",
                              field="usd") from None


FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)  # a ledger's possible days, with room for a step


def date_range(since: date | None, until: date | None, today: date) -> tuple[date, date]:
    """(first day, last day); the defaults are the 30 days up to today; a reversed range is refused."""
    from datetime import timedelta

    for flag, day in (("--since", since), ("--until", until)):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:  # the queries step a day past either end
            raise ValidationError(f"{flag} {day} is out of range: give a day from {FIRST_DAY} to {LAST_DAY}.",
                                  field=flag.strip("-"))
    last = until or today
    first = since or last - timedelta(days=30)
    if first > last:
        raise ValidationError(f"--since {first} is after --until {last}{' (today)' if until is None else ''}: "
                              "give the earlier day first.", field="since")
    return first, last


def month(value: str | None) -> str | None:
    """``--month`` as YYYY-MM (or None for this month)."""
    if value is not None and not _MONTH.fullmatch(value):
        raise ValidationError(f"--month must be YYYY-MM, such as 2026-11; got {value!r}.", field="month")
    return value


def known_user(engine, users_file, user: str) -> bool:
    """True for "*", a console account, or a user the ledger has seen (a call or a budget)."""
    from sqlalchemy import select

    from core.accounts.users import UserStore
    from core.ledger.schema import budgets, calls

    if user == "*" or any(u["username"] == user for u in UserStore(users_file).users()):
        return True
    with engine.connect() as conn:
        for table in (budgets, calls):
            if conn.execute(select(table.c.user_id).where(table.c.user_id == user).limit(1)).first():
                return True
    return False


def _where(engine) -> str:
    """The ledger's file (DuckDB) or masked URL, as an analyst would look for it."""
    from core.ledger.engine import mask_url

    if engine.dialect.name == "duckdb" and engine.url.database:
        return engine.url.database
    return mask_url(engine.url)


def ledger_problem(ledger, *, asking: bool = False) -> LedgerUnavailable | None:
    """None when the ledger opens (schema, spool replay); else the one line saying why and what to do."""
    if ledger.open():
        return None
    where, why = _where(ledger.engine), ledger.last_error or "no answer"
    if "lock" in why.lower():  # DuckDB: one process at a time may open the file
        head = f"The ledger {where} is in use by another process (the console?)"
        if asking:
            return LedgerUnavailable(f"{head}, so budgets cannot be checked and the call was not sent. "
                                     f"Ask in the console's Playground, stop the console, or {POSTGRES_HINT}.")
        return LedgerUnavailable(f"{head}. Stop it, or {POSTGRES_HINT} that both can share.")
    return LedgerUnavailable(f"The ledger {where} cannot be reached ({why}). Check that it is running, "
                             "or point TOLLGATE_LEDGER_URL at one that is.")


def refuse_early(args, settings) -> None:
    """Check ``ask``'s request offline, as the client would, before anything heavy is imported.

    Raises the client's own ValidationError for a bad user, model, max_tokens, temperature or prompt,
    so such a refusal returns in well under a second. It is recorded as a blocked row through the
    spool (one fsync'd line, stored by the next process that opens the ledger), without loading
    SQLAlchemy. A prompt the injection screen blocks goes on to the client, which records it.
    """
    try:
        _validate_offline(args, settings)
    except TollgateError as err:
        _record_refusal(args, settings, err)
        raise


def _record_refusal(args, settings, err) -> None:
    """The refused ``ask`` as a blocked ledger row, appended to the spool (best effort: never hides ``err``)."""
    if settings.ledger_url is None:
        return
    import hashlib
    import random
    import uuid
    from datetime import UTC, datetime

    from core.ledger.records import to_json
    from core.ledger.spool import Spool
    from core.types import STATUS_BLOCKED, CallRecord

    def label(value, limit: int) -> str:
        return value if isinstance(value, str) and 0 < len(value) <= limit and value.isprintable() else "(invalid)"

    body = json.dumps([args.system, args.prompt], ensure_ascii=False, default=str)
    rec = CallRecord(id=str(uuid.UUID(int=random.getrandbits(128), version=4)), ts=datetime.now(UTC),
                     user=label((args.user or "").strip(), 200),
                     model=label(args.model or settings.default_model, 100), status=STATUS_BLOCKED,
                     error_code=err.code, source="cli", detail=scrub(err.message)[:500],
                     prompt_sha256=hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest())
    try:
        Spool(settings.spool_path).append(to_json(rec), outage=False)
    except Exception as exc:  # noqa: BLE001 - the refusal itself must still reach the user
        print(f"warning: the refusal could not be recorded ({type(exc).__name__})", file=sys.stderr)


def _validate_offline(args, settings) -> None:
    """The client's own checks on ``ask``'s user, model, max_tokens, temperature and prompt."""
    from core.catalog.models import load_catalogue
    from core.errors import PromptBlocked
    from core.guards import validation

    user = (args.user or "").strip()
    if not user or user == "*" or len(user) > 200 or not user.isprintable():
        raise ValidationError("--user must be 1 to 200 printable characters, and not \"*\" (which names the "
                              "organisation-wide budget).", field="user")
    policy = validation.ValidationPolicy(max_prompt_chars=settings.max_prompt_chars,
                                         injection_mode=settings.injection_mode)
    max_tokens = settings.default_max_tokens if args.max_tokens is None else args.max_tokens
    try:
        validation.validate(args.model or settings.default_model, validation.as_messages(args.prompt),
                            max_tokens=max_tokens, system=args.system, temperature=args.temperature,
                            catalogue=load_catalogue(tiers=settings.tiers), policy=policy)
    except PromptBlocked:
        return


def blocks_note(result) -> str:
    """What a text answer leaves out, for the summary line: its non-text blocks and an unusual stop.

    e.g. ``" · blocks: thinking, tool_use get_weather · stopped: tool_use"``; empty for a plain text answer.
    """
    shown = []
    for block in result.content or ():
        kind = block.get("type", "?")
        if kind == "text":
            continue
        name = block.get("name")
        shown.append(f"{kind} {name}" if isinstance(name, str) and name else kind)
    note = f" · blocks: {', '.join(shown)}" if shown else ""
    if result.stop_reason not in (None, "end_turn"):
        note += f" · stopped: {result.stop_reason}"
    return note
