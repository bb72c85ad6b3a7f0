"""The ledger's tables, one SQLAlchemy ``MetaData`` for every backend (DuckDB, PostgreSQL).

Timestamps are naive UTC (``TIMESTAMP WITHOUT TIME ZONE``) so that every backend
stores the same thing; queries convert to the viewer's time zone. Money is an exact
``NUMERIC(20, 10)`` in USD. No column ever holds an API key: only its label.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    false,
)

from core.ledger.records import COST_PART_COLUMNS
from core.types import SERVER_TOOL_FIELDS, USAGE_FIELDS

SCHEMA_VERSION = 15  # 1-3: migrations.STEPS; 4 on: Alembic revisions in core/ledger/alembic/versions
MONEY = Numeric(20, 10)

metadata = MetaData()

schema_version = Table(
    "tollgate_schema", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", DateTime, nullable=False),
)

calls = Table(
    "calls", metadata,
    Column("id", String(36), primary_key=True),  # uuid4 text, made by the client
    Column("ts", DateTime, nullable=False),  # naive UTC
    Column("user_id", String(200), nullable=False),
    Column("model", String(100), nullable=False),
    Column("status", String(16), nullable=False),  # ok | error | cached | blocked
    Column("error_code", String(64)),
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("cache_creation_5m_tokens", Integer, nullable=False, default=0),
    Column("cache_creation_1h_tokens", Integer, nullable=False, default=0),
    Column("cache_read_tokens", Integer, nullable=False, default=0),
    Column("tokens_saved", Integer, nullable=False, default=0),
    Column("cost_usd", MONEY, nullable=False, default=0),
    Column("price_version", String(64)),
    Column("unpriced", Boolean, nullable=False, default=False),
    Column("latency_ms", Double),  # 8-byte: version 1's 4-byte REAL kept only ~7 digits
    Column("ttft_ms", Double),
    Column("streamed", Boolean, nullable=False, default=False),
    Column("retries", Integer, nullable=False, default=0),
    Column("request_id", String(128)),
    Column("key_label", String(64)),
    Column("prompt_sha256", String(64)),
    Column("prompt_text", Text),  # only when TOLLGATE_STORE_PROMPTS=1
    Column("source", String(16), nullable=False, default="library"),
    Column("detail", Text),  # why a call was refused or failed, analyst-readable
    # --- version 6 (Alembic revision 0006): server tools, tier and geo, the cost split by part ---
    Column("web_search_requests", Integer, nullable=False, default=0),
    Column("web_fetch_requests", Integer, nullable=False, default=0),
    Column("service_tier", String(16)),  # as usage reported it: standard | priority | batch
    Column("inference_geo", String(32)),  # as usage reported it: global | us | ...
    # USD of each part of cost_usd (they sum to it); NULL on a billed row recorded before version 6.
    *(Column(name, MONEY) for name in COST_PART_COLUMNS),
    Column("api_key_id", String(36)),  # the Tollgate key (its public id) a gateway call came with; version 7
    # --- version 8 (revision 0008): batch runs and idempotent calls ---
    Column("run_id", String(36)),  # the batch run (core/batches) a row belongs to
    Column("row_index", Integer),  # its row number in that run's input
    Column("batch", Boolean, nullable=False, default=False),  # priced at the Message Batches discount
    # unique when not null (index ux_calls_idempotency_key, made by revision 0008): one billed row per key
    Column("idempotency_key", String(128)),
    # --- version 10 (revision 0010): true once the row is summed into the rollups (core/ledger/rollup.py) ---
    Column("rolled", Boolean, nullable=False, default=False, server_default=false()),
)
Index("ix_calls_ts", calls.c.ts)
Index("ix_calls_user_ts", calls.c.user_id, calls.c.ts)

response_cache = Table(
    "response_cache", metadata,
    Column("key", String(64), primary_key=True),  # SHA-256 of the canonical request
    Column("payload", Text, nullable=False),  # JSON of the cached result
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
)
# Indexes from schema version 5 on are made by Alembic revisions, not declared here (create_all
# would otherwise make them at version 1): ix_response_cache_expires (expires_at), revision 0005.

budgets = Table(
    "budgets", metadata,
    Column("user_id", String(200), primary_key=True),  # "*" is the organisation-wide budget
    Column("monthly_usd", MONEY, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("updated_by", String(200)),
)

budget_reservations = Table(
    "budget_reservations", metadata,
    Column("id", String(36), primary_key=True),  # same id as the call's ledger row
    Column("user_id", String(200), nullable=False),
    Column("month", String(7), nullable=False),  # YYYY-MM in the budget time zone
    Column("amount_usd", MONEY, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),  # a crashed reservation stops counting
)
Index("ix_reservations_user", budget_reservations.c.user_id, budget_reservations.c.month)

budget_alerts = Table(
    "budget_alerts", metadata,
    Column("user_id", String(200), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("threshold_pct", Integer, primary_key=True),
    Column("ts", DateTime, nullable=False),
    Column("spent_usd", MONEY, nullable=False),
    Column("budget_usd", MONEY, nullable=False),
    Column("webhook_status", String(32)),  # None when no webhook is configured
)

# --- version 3 ----------------------------------------------------------------------------

checklist_ticks = Table(
    "checklist_ticks", metadata,
    # An admin's tick on a production-checklist item no code can check; an untick closes the
    # row instead of deleting it, so who vouched for what, and when, is kept.
    Column("id", String(36), primary_key=True),  # uuid4 text
    Column("item_id", String(64), nullable=False),
    Column("ticked_by", String(200), nullable=False),
    Column("ticked_at", DateTime, nullable=False),  # naive UTC
    Column("note", Text),
    Column("unticked_by", String(200)),
    Column("unticked_at", DateTime),  # NULL while the tick stands
)

health_probe = Table(
    "health_probe", metadata,
    # One row per console process, rewritten by each health check to time a real write and read.
    Column("probe_id", String(200), primary_key=True),
    Column("ts", DateTime, nullable=False),
)

# --- version 4 ----------------------------------------------------------------------------

login_attempts = Table(
    "login_attempts", metadata,
    # The console's lock-out, shared by every console process: one row per password check
    # (kind 'attempt', at_s = when) and per lock (kind 'lock', at_s = locked until, stamp = which
    # password hash it locks, so a new password lifts it). Inserted before the check, so
    # parallel guesses are counted atomically.
    Column("id", String(36), primary_key=True),  # uuid4 text
    Column("username", String(200), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("at_s", Double, nullable=False),  # epoch seconds
    Column("stamp", String(64)),
)
Index("ix_login_attempts_user", login_attempts.c.username, login_attempts.c.kind)

# Tables each version after 1 introduced: version 1 creates only the others (4's is an Alembic revision).
ADDED_IN = {checklist_ticks.name: 3, health_probe.name: 3, login_attempts.name: 4}

# Columns each version after 1 added to a version-1 table: version 1 creates the table without them,
# and the revision of that version adds them (so a ledger made at version N looks as N left it).
V6_CALL_COLUMNS = ("web_search_requests", "web_fetch_requests", "service_tier", "inference_geo", *COST_PART_COLUMNS)
V8_CALL_COLUMNS = ("run_id", "row_index", "batch", "idempotency_key")
COLUMNS_ADDED_IN = {calls.name: {**dict.fromkeys(V6_CALL_COLUMNS, 6), **dict.fromkeys(V8_CALL_COLUMNS, 8), "rolled": 10}}


def as_of(table: Table, version: int) -> Table:
    """``table`` as schema ``version`` defined it: without the columns later versions added (a copy)."""
    later = {name for name, v in COLUMNS_ADDED_IN.get(table.name, {}).items() if v > version}
    if not later:
        return table
    old = Table(table.name, MetaData(), *[c._copy() for c in table.columns if c.name not in later])
    for ix in table.indexes:
        Index(ix.name, *[old.c[c.name] for c in ix.columns])
    return old
# --- version 6 ----------------------------------------------------------------------------

api_keys = Table(
    "api_keys", metadata,
    # Tollgate keys for the gateway: only a SHA-256 of the secret part is kept (the key is random,
    # 256 bits, so a slow hash adds nothing); ``last_four`` is what the key may be shown as later.
    Column("id", String(36), primary_key=True),  # public, part of the key itself
    Column("user_id", String(200), nullable=False),
    Column("name", String(200)),
    Column("secret_sha256", String(64), nullable=False),
    Column("last_four", String(4), nullable=False),
    Column("models", Text),  # comma-separated model ids the key may use; NULL: every model
    Column("created_at", DateTime, nullable=False),  # naive UTC
    Column("created_by", String(200)),
    Column("expires_at", DateTime),  # NULL: never
    Column("revoked_at", DateTime),
    Column("last_used_at", DateTime),
)
ADDED_IN[api_keys.name] = 6  # made by Alembic revision 0006, not by version 1's create_all

# --- version 8 ----------------------------------------------------------------------------

message_batches = Table(
    "message_batches", metadata,
    # Whose each Message Batch is (the gateway shows a key only its own user's) and what was held for it.
    Column("id", String(64), primary_key=True),  # the API's msgbatch_… id
    Column("user_id", String(200), nullable=False),
    Column("api_key_id", String(36)),  # the Tollgate key it was created with (gateway), else NULL
    Column("run_id", String(36)),  # the batch run it belongs to, if any
    Column("source", String(16), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("reserved_usd", MONEY, nullable=False),
    Column("hold_prefix", String(100), nullable=False),  # each row's hold key is hold_prefix + custom_id
    Column("items", Text, nullable=False),  # JSON {custom_id: [model, row_index]}: what each result is priced as
    Column("created_at", DateTime, nullable=False),  # naive UTC
)

idempotency_keys = Table(
    "idempotency_keys", metadata,
    # One claim per idempotency key: taken before a call is sent (so a second caller with the same key waits
    # instead of calling again), completed with the outcome it replays, dropped when the call fails.
    Column("key", String(128), primary_key=True),
    Column("user_id", String(200), nullable=False),
    Column("call_id", String(36), nullable=False),  # the ledger row of the call holding the key
    Column("state", String(8), nullable=False),  # pending | done
    Column("result", Text),  # JSON of the CallResult (and its message) once done
    Column("claimed_at", DateTime, nullable=False),  # naive UTC; a pending claim this old is taken over
)
ADDED_IN[message_batches.name] = 8
ADDED_IN[idempotency_keys.name] = 8

# --- version 9 (Alembic revision 0009): batch runs ----------------------------------------

batch_runs = Table(
    "batch_runs", metadata,
    # One run of a prompt template over a table's rows (core/batches): its whole state lives here and in
    # batch_items, so any process (a restarted console, another worker) can resume or poll it.
    Column("id", String(36), primary_key=True),  # uuid4 text
    Column("user_id", String(200), nullable=False),
    Column("name", String(200)),
    Column("mode", String(8), nullable=False),  # batch | now
    Column("state", String(16), nullable=False),  # queued | in_progress | canceling | ended | canceled | failed
    Column("model", String(100), nullable=False),
    Column("system", Text),
    Column("template", Text, nullable=False),
    Column("max_tokens", Integer, nullable=False),
    Column("temperature", Double),
    Column("rows", Integer, nullable=False),
    Column("upstream_batch_id", String(128)),  # the Message Batches id (batch mode), once created
    Column("reserved_usd", MONEY, nullable=False, default=0),  # the whole run's worst case, held at submit
    Column("created_at", DateTime, nullable=False),  # naive UTC
    Column("ended_at", DateTime),
    Column("compare_key", String(64), nullable=False),  # SHA-256 of the input rows: pairs runs over the same rows
    Column("source", String(16), nullable=False, default="batch"),
    Column("api_key_id", String(36)),  # the gateway key a run was created with
    Column("detail", Text),  # why a run failed, analyst-readable
)
Index("ix_batch_runs_user", batch_runs.c.user_id, batch_runs.c.created_at)

batch_items = Table(
    "batch_items", metadata,
    # One input row of a run: what was sent and what came back. The ledger row (call_id) is the bill;
    # this row is the result an analyst downloads.
    Column("run_id", String(36), primary_key=True),
    Column("row_index", Integer, primary_key=True),  # 0-based position in the input table
    Column("custom_id", String(64), nullable=False),  # the Message Batches custom_id (row-000042)
    Column("input", Text, nullable=False),  # the row as JSON
    Column("prompt", Text, nullable=False),  # the rendered template
    Column("state", String(16), nullable=False),  # pending | succeeded | failed | canceled | expired
    Column("call_id", String(36)),  # the ledger row of this item
    Column("output", Text),
    Column("cost_usd", MONEY),
    Column("latency_ms", Double),
    Column("error", Text),
    Column("updated_at", DateTime),
)
ADDED_IN[batch_runs.name] = 9  # made by Alembic revision 0009, not by version 1's create_all
ADDED_IN[batch_items.name] = 9

# --- version 10 (Alembic revision 0010): rollups --------------------------------------------
# The calls summed per UTC hour (with and without the user) and per UTC day, and successful calls'
# latency counted per hour and per UTC day in log-spaced buckets; only rows with ``calls.rolled`` true are in them.
# A key that is NULL on the call is stored as '' (a primary key cannot hold NULL); readers turn it back.

MONEY_UNITS = 10**10  # rollup money is BIGINT units of 1e-10 USD (cost_usd's scale): exact, and fast to sum
BUCKETS_PER_OCTAVE = 16  # latency bucket b holds [2^(b/16), 2^((b+1)/16)) ms: each 4.4 % wide
NULL_BUCKET = -32768  # a successful call with no latency (or no time to first token) recorded
LATENCY, TTFT = 0, 1  # latency_hourly.metric
# Long-prompt thresholds the rollups split on: prompt_band = how many of them the prompt's tokens exceed.
KNOWN_THRESHOLDS = (100_000, 200_000)
COUNT_MEASURES = ("calls", "unpriced", *USAGE_FIELDS, "tokens_saved", *SERVER_TOOL_FIELDS)
MONEY_MEASURES = ("cost_usd", *COST_PART_COLUMNS, "unsplit_cost_usd")  # unsplit: cost of rows with no split
LATENCY_SOURCES = (("latency_hourly", "hour"), ("latency_daily", "day"))
ROLLUP_KEYS = ("model", "status", "error_code", "service_tier", "inference_geo", "prompt_band")


def _rollup(name: str, bucket: str, with_user: bool) -> Table:
    keys = [Column(bucket, DateTime, primary_key=True)]  # naive UTC start of the hour or day
    if with_user:
        keys.append(Column("user_id", String(200), primary_key=True))
    keys += [Column("model", String(100), primary_key=True), Column("status", String(16), primary_key=True),
             Column("error_code", String(64), primary_key=True), Column("service_tier", String(16), primary_key=True),
             Column("inference_geo", String(32), primary_key=True), Column("prompt_band", SmallInteger, primary_key=True)]
    return Table(name, metadata, *keys, *[Column(n, BigInteger, nullable=False) for n in (*COUNT_MEASURES,
                                                                                             *MONEY_MEASURES)])


usage_hourly = _rollup("usage_hourly", "hour", True)
usage_hourly_all = _rollup("usage_hourly_all", "hour", False)
usage_daily = _rollup("usage_daily", "day", True)


def _latency(name: str, bucket: str) -> Table:
    return Table(name, metadata, Column(bucket, DateTime, primary_key=True),
                 Column("model", String(100), primary_key=True),
                 Column("metric", SmallInteger, primary_key=True),  # LATENCY or TTFT
                 Column("bucket", SmallInteger, primary_key=True),  # see BUCKETS_PER_OCTAVE
                 Column("n", BigInteger, nullable=False))


latency_hourly, latency_daily = (_latency(name, bucket) for name, bucket in LATENCY_SOURCES)
ROLLUPS = (usage_hourly, usage_hourly_all, usage_daily, latency_hourly, latency_daily)
ADDED_IN.update(dict.fromkeys((t.name for t in ROLLUPS), 10))
# --- version 11 (revision 0011): latency per hour over every model --------------------------------
# latency_hourly summed over its models, a few times fewer rows: what a latency read neither grouped nor filtered
# by model sums (the Usage & cost page's latency per local day), folded with the others.
latency_hourly_all = Table("latency_hourly_all", metadata, Column("hour", DateTime, primary_key=True),
                           Column("metric", SmallInteger, primary_key=True),
                           Column("bucket", SmallInteger, primary_key=True), Column("n", BigInteger, nullable=False))
ADDED_IN[latency_hourly_all.name] = 11
# --- version 12 (revision 0012): latency per UTC day over every model ----------------------------
# latency_daily summed over its models: a year of local days reads a day's histogram (plus a few hours' corrections,
# core.ledger.rollup_read.latency_select) instead of 24 hourly ones.
latency_daily_all = Table("latency_daily_all", metadata, Column("day", DateTime, primary_key=True),
                          Column("metric", SmallInteger, primary_key=True),
                          Column("bucket", SmallInteger, primary_key=True), Column("n", BigInteger, nullable=False))
ADDED_IN[latency_daily_all.name] = 12
# --- version 14 (revision 0014): usage per UTC day over every user, and per UTC month and user ---------------------
# What a year of the Usage & cost page sums: over every user (errors, totals, per model) a day's rows with no user in
# them; per user, twelve months instead of 365 days of usage_daily.
usage_daily_all, usage_monthly = _rollup("usage_daily_all", "day", False), _rollup("usage_monthly", "month", True)
ADDED_IN.update(dict.fromkeys((usage_daily_all.name, usage_monthly.name), 14))
# Indexes made by revision 0010: ix_usage_hourly_user (user_id, hour), ix_usage_daily_user (user_id, day);
# on PostgreSQL ix_calls_unrolled (ts) WHERE NOT rolled, ix_calls_cost (cost_usd), ix_calls_user_cost.
# Version 11 (revision 0011) only adds, on PostgreSQL, ix_calls_user_latency: one user's latency from an index.
# Version 13 (revision 0013) only adds, on PostgreSQL, ix_calls_unrolled_user (user_id, ts) WHERE NOT rolled.
# Revision 0014 makes ix_usage_monthly_user (user_id, month).
# Version 15 (revision 0015) only adds, on PostgreSQL, ix_latency_hourly_all_cover (hour) INCLUDE (metric, bucket, n).
