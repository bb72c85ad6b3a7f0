"""A PostgreSQL budget hold in one round trip: lock, check every budget that applies and insert what fits, pipelined.

Before, a hold took six or seven round trips (BEGIN, SET LOCAL, the lock, a read per budget, the insert,
COMMIT), each paid again by every caller queued on the same budget rows. Now the transaction goes as one
pipeline (psycopg's pipeline mode, one network round trip), in autocommit mode with its own BEGIN and COMMIT:

1. ``BEGIN ISOLATION LEVEL READ COMMITTED``, then ``SET LOCAL synchronous_commit = off`` unless durable holds;
2. the user's and the organisation's budget rows locked ``FOR UPDATE``, in ``user_id`` order (as every other
   budget writer locks them), on a statement of its own: under READ COMMITTED each statement takes its snapshot
   when it starts, so only a statement after the lock sees every hold committed by the transaction it waited
   for. One statement that locked and summed would read what was there before the wait, and overshoot;
3. one statement (``check_sql``) that reads each applicable budget and what is left of it (month-to-date
   spend and live holds: ``spending.used_select``, read only for a budget that exists), walks the asks in
   arrival order (each against what is left after the ones before it; a refusal takes nothing), inserts the
   ones that fit and returns the walk, from which each ask's reservation or refusal is built;
4. ``COMMIT``.

A hold that ``replaces`` one made ahead (a run's row) drops it after the lock and must keep it when refused,
so it reads the walk before it commits or rolls back: two round trips.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import case, literal, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError

from core.budgets import spending
from core.budgets.alerts import as_usd, tidy_usd
from core.budgets.amounts import GLOBAL, month_bounds
from core.errors import BudgetExceeded
from core.ledger.schema import budgets
from core.ledger.writes import is_conflict

_RETRIES = 20  # transient conflicts (deadlocks, serialisation failures) run again, as BudgetBook._tx does
_BEGIN = "BEGIN ISOLATION LEVEL READ COMMITTED"
_SYNC_OFF = "SET LOCAL synchronous_commit = off"  # this transaction only; the calls' records stay durable
_LOCK = "SELECT user_id FROM budgets WHERE user_id IN (%(user)s, '*') ORDER BY user_id FOR UPDATE"
_DROP = "DELETE FROM budget_reservations WHERE id = %(id)s AND user_id = %(user)s"
# The asks in order, each fitting only what the ones before it left (NULL: that budget does not exist).
_WALK = """
asks AS (
  SELECT * FROM unnest(%(ids)s::text[], %(amounts)s::numeric[], %(created)s::timestamp[], %(expires)s::timestamp[])
    WITH ORDINALITY AS a(id, amount, created_at, expires_at, i)
),
walk(i, lu, lg, ok) AS (
  SELECT 0::bigint, lu::numeric, lg::numeric, NULL::boolean FROM lefts
  UNION ALL
  SELECT a.i, CASE WHEN f.ok THEN w.lu - a.amount ELSE w.lu END, CASE WHEN f.ok THEN w.lg - a.amount ELSE w.lg END,
         f.ok
  FROM walk w JOIN asks a ON a.i = w.i + 1
  CROSS JOIN LATERAL (SELECT (w.lu IS NOT NULL OR w.lg IS NOT NULL) AND (w.lu IS NULL OR a.amount <= w.lu)
                             AND (w.lg IS NULL OR a.amount <= w.lg) AS ok) f
),
ins AS (
  INSERT INTO budget_reservations (id, user_id, month, amount_usd, created_at, expires_at)
  SELECT a.id, %(user)s, %(month)s, a.amount, a.created_at, a.expires_at
  FROM asks a JOIN walk w ON w.i = a.i WHERE w.ok
)
SELECT w.i, w.ok, w.lu, w.lg, l.bu, l.bg FROM walk w CROSS JOIN lefts l ORDER BY w.i"""


def usable(engine) -> bool:
    """True when ``engine`` talks to PostgreSQL through psycopg 3 with pipeline mode (libpq 14 or later); other
    drivers (psycopg2, pg8000) hold in the same transaction, statement by statement (core.budgets.combined)."""
    if engine.dialect.driver != "psycopg":
        return False
    return _pipelines()


@lru_cache(maxsize=1)
def _pipelines() -> bool:
    import psycopg

    return psycopg.Pipeline.is_supported()


# Stand for the hold's user and ``now`` while the statement is built with its constants inline, then become
# its only parameters (with the asks'): psycopg then adapts eight values a hold, not fifty.
_USER, _NOW = "tollgate:hold-user", datetime(1900, 1, 1)


@lru_cache(maxsize=64)
def check_sql(start: datetime, end: datetime) -> str:
    """The SQL of step 3 for the month ``[start, end)``, the same for every user (so psycopg prepares it once per
    connection, and it is built once a month: about 15 ms of SQLAlchemy's compiler)."""
    def left(u: str):
        budget = select(budgets.c.monthly_usd).where(budgets.c.user_id == literal(u)).scalar_subquery()
        used = spending.used_select("postgresql", u, start, end).subquery()
        spent_held = select(list(used.c)[0] + list(used.c)[1]).scalar_subquery()
        # CASE: the month's spend (a rollup union) is read only for a budget that exists.
        return budget, case((budget.is_not(None), budget - spent_held))

    (bu, lu), (bg, lg) = left(_USER), left(GLOBAL)
    lefts = select(bu.label("bu"), bg.label("bg"), lu.label("lu"), lg.label("lg")).params(now=_NOW)
    sql = str(lefts.compile(dialect=postgresql.psycopg.dialect(), compile_kwargs={"literal_binds": True}))
    user, now = f"'{_USER}'", f"'{_NOW:%Y-%m-%d %H:%M:%S}'"
    if sql.count(now) != 2 or sql.count(user) < 4 or "%(" in sql:
        raise AssertionError("the budget check's statement did not render as expected")
    return f"WITH RECURSIVE lefts AS ({sql.replace(user, '%(user)s').replace(now, '%(now)s')}),{_WALK}"


def hold_batch(book, user: str, month: str, asks, reservation, *, replaces: str | None = None) -> None:
    """Decide ``asks`` (core.budgets.combined.Ask) in one pipelined transaction; each gets its result or error.

    Raises what the database raised, as SQLAlchemy's errors (IntegrityError for an id held already,
    OperationalError when it cannot be reached); with ``replaces``, the refusal (the hold made ahead stays)."""
    t0 = min(a.t for a in asks)  # the earliest: every hold live then is counted (the safe side)
    start, end, _ = month_bounds(t0, book._zone)
    sql = check_sql(start, end)
    params = {"user": user, "now": t0, "month": month, "ids": [a.call_id for a in asks],
              "amounts": [a.amount for a in asks], "created": [a.t for a in asks],
              "expires": [a.t + book._ttl for a in asks]}
    for attempt in range(_RETRIES):
        try:
            walk = _run(book, user, sql, params, replaces)
            break
        except DBAPIError as exc:
            if attempt == _RETRIES - 1 or not is_conflict(exc):
                raise
            book._sleep(min(0.005 * 2 ** attempt, 0.25))  # let the other writer finish, then run again
    _decide(user, month, asks, walk, reservation, book._ttl)
    if replaces is not None and asks[0].error is not None:
        raise asks[0].error


def _run(book, user: str, sql: str, params: dict, replaces: str | None) -> list[tuple]:
    """The pipeline (steps 1-4); the walk's rows. A refused ``replaces`` hold rolls back instead of committing."""
    import psycopg  # the postgres extra: only a PostgreSQL ledger gets here

    with book._autocommit.connect() as conn:
        pg = conn.connection.driver_connection
        try:
            with pg.pipeline() as pipe:
                cur, check = pg.cursor(), pg.cursor()
                cur.execute(_BEGIN)
                if not book.durable_holds:
                    cur.execute(_SYNC_OFF)
                cur.execute(_LOCK, {"user": user})
                if replaces is not None:
                    cur.execute(_DROP, {"id": replaces, "user": user})
                check.execute(sql, params)
                if replaces is not None:
                    pipe.sync()  # the walk decides whether the dropped hold comes back
                    walk = check.fetchall()
                    refused = (walk[0][4] is not None or walk[0][5] is not None) and not walk[1][1]
                    cur.execute("ROLLBACK" if refused else "COMMIT")
                else:
                    cur.execute("COMMIT")
            return walk if replaces is not None else check.fetchall()
        except psycopg.Error as exc:
            _recover(conn, pg)
            raise DBAPIError.instance(sql, params, exc, psycopg.Error, hide_parameters=True,
                                      connection_invalidated=conn.invalidated) from exc


def _recover(conn, pg) -> None:
    """After a failed pipeline: roll the transaction back, or drop a connection that cannot (the pool opens another)."""
    import psycopg

    try:
        if not pg.broken and pg.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            pg.execute("ROLLBACK")
    except psycopg.Error:
        pass
    if pg.broken or pg.closed:
        conn.invalidate()


def _decide(user: str, month: str, asks, walk: list[tuple], reservation, ttl) -> None:
    """Each ask's Reservation or BudgetExceeded from the walk (row i: what is left after ask i)."""
    _, _, lu, lg, bu, bg = walk[0]
    found = {u: as_usd(b) for u, b in ((user, bu), (GLOBAL, bg)) if b is not None}
    scopes = [(scope, u) for scope, u in (("user", user), ("global", GLOBAL)) if u in found]
    if not scopes:
        for a in asks:
            a.result = a.error = None  # no budget applies
        return
    before = {user: lu, GLOBAL: lg}
    for a, (_, ok, after_u, after_g, _, _) in zip(asks, walk[1:], strict=True):
        after = {user: after_u, GLOBAL: after_g}
        if not ok:
            scope, u = next(((s, u) for s, u in scopes if a.amount > as_usd(before[u])), scopes[0])
            a.result, a.error = None, BudgetExceeded(user, tidy_usd(max(Decimal(0), as_usd(before[u]))),
                                                     tidy_usd(a.amount), scope)
            continue
        bounds = tuple((u, found[u], found[u] - as_usd(after[u])) for _, u in scopes)
        remaining = tidy_usd(min(as_usd(after[u]) for _, u in scopes))
        a.result, a.error = reservation(a.call_id, user, month, a.amount, a.t + ttl, remaining, bounds), None
        before = after
