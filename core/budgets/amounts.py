"""What a budget may be: a USD amount (capped, ten places), a user id, a calendar month, a budget file.

Pure checks, no database: the book, the CLI and the console refuse a bad amount or file with the
same words before anything is written. Months are calendar months in the budget time zone.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core import money
from core.budgets.alerts import check_thresholds
from core.clock import naive_utc

GLOBAL = "*"  # the organisation-wide budget's user_id


def budget_zone(tz: str | ZoneInfo) -> ZoneInfo:
    """The IANA time zone budgets follow; ValueError names a bad one."""
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"Unknown budget time zone {tz!r}; use an IANA name such as "
                         "'UTC' or 'Europe/Paris'.") from exc


def month_bounds(now_utc: datetime, tz: str | ZoneInfo) -> tuple[datetime, datetime, str]:
    """The calendar month in ``tz`` holding ``now_utc``: (start, end) as naive UTC, and "YYYY-MM"."""
    zone = budget_zone(tz)
    aware = now_utc if now_utc.tzinfo is not None else now_utc.replace(tzinfo=UTC)
    local = aware.astimezone(zone)
    start = datetime(local.year, local.month, 1, tzinfo=zone)
    nxt = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    end = datetime(nxt[0], nxt[1], 1, tzinfo=zone)
    return naive_utc(start), naive_utc(end), f"{local.year:04d}-{local.month:02d}"


def parse_usd(value: object, what: str = "amount") -> Decimal:
    """A non-negative, finite USD amount from a Decimal, int, float or decimal string, else ValueError."""
    hint = f'{what} must be a non-negative decimal amount in USD such as "25.00"; got {value!r}.'
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise ValueError(hint)
    try:
        amount = Decimal(value.strip().removeprefix("$") if isinstance(value, str) else str(value))
    except InvalidOperation as exc:
        raise ValueError(hint) from exc
    if not amount.is_finite() or amount < 0:
        raise ValueError(hint)
    return amount


MAX_MONTHLY_USD = Decimal(1_000_000)  # a sane cap: far above any real team's month, far below the column's limit
MONEY_PLACES = 10  # the ledger's NUMERIC(20, 10) keeps ten decimal places


def check_budget_amount(amount: Decimal) -> Decimal:
    """A monthly budget from $0 to MAX_MONTHLY_USD with at most MONEY_PLACES decimals, else ValueError."""
    if not amount.is_finite():
        raise ValueError("a budget must be a finite amount")
    if amount < 0:
        raise ValueError("a budget cannot be negative")
    if amount > MAX_MONTHLY_USD:
        raise ValueError("that is above the cap for a monthly budget")
    if amount.as_tuple().exponent < -MONEY_PLACES and amount != amount.quantize(Decimal(1).scaleb(-MONEY_PLACES)):
        raise ValueError(f"a budget has at most {MONEY_PLACES} decimal places")
    return amount


def checked_budget(user: str, amount: Decimal) -> Decimal:
    """``amount`` as ``user``'s monthly budget, else a ValueError naming the user and the cap."""
    try:
        return check_budget_amount(amount)
    except ValueError as exc:
        raise ValueError(f"The budget for {user!r}: {exc} (at most {money.usd(MAX_MONTHLY_USD)} a month).") from None


def check_user(user: object) -> str:
    """A user id that fits the ledger's column; ValueError otherwise."""
    if not isinstance(user, str) or not user.strip() or len(user) > 200:
        raise ValueError(f"A budget user id must be a non-empty string of at most 200 characters; "
                         f"got {user!r}.")
    return user


def read_budget_file(path: Path) -> tuple[dict[str, Decimal], str | None, tuple[int, ...] | None]:
    """A budgets TOML file, validated: (budgets by user, timezone, thresholds); ValueError in one line if not."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path.name} is not valid TOML: {exc}") from exc
    return parse_budget_config(doc)


def parse_budget_config(doc: dict) -> tuple[dict[str, Decimal], str | None, tuple[int, ...] | None]:
    """Validate a parsed budgets TOML document: (budgets by user, timezone, thresholds)."""
    raw = doc.get("budgets", {})
    if not isinstance(raw, dict):
        raise ValueError("[budgets] must be a table of user = \"amount in USD\".")
    table = {check_user(u): parse_usd(v, f"The budget for {u!r}") for u, v in raw.items()}
    for u, amount in table.items():  # the cap too, so a file is refused whole before any write
        checked_budget(u, amount)
    tz = doc.get("timezone")
    if tz is not None:
        budget_zone(tz)
    thresholds = doc.get("thresholds")
    return table, tz, None if thresholds is None else check_thresholds(thresholds)
