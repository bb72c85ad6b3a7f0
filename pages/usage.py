"""Usage & cost: spend, calls, tokens, cache, errors and latency against the previous period; budgets; what-if."""

from zoneinfo import ZoneInfo

import plotly.express as px
import streamlit as st

from core.errors import TollgateError
from core.render import plain, plotly_safe
from core.reports.breakdown import LABELS as BREAKDOWN_LABELS
from core.reports.usage import Filters, Report, WhatIf, all_on, default_period, follow_zone, tier_mapping
from pages.widgets import door, money_table, require_user, show_error, usd

ZONES = ("UTC", "Europe/London", "Europe/Paris", "America/New_York", "America/Chicago", "America/Los_Angeles",
         "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney")
TTL_S = 30  # figures may lag the ledger by this much; a filter change is always fresh


# ``source`` (which ledger) is in each cache key, so two consoles' figures never mix.
@st.cache_data(ttl=TTL_S, show_spinner="Reading the ledger…")
def _options(source: str, me):
    return door().usage_options(me)


@st.cache_data(ttl=TTL_S, show_spinner="Reading the ledger…")
def _report(source: str, me, filters: Filters) -> Report:
    return door().usage(me, filters)


@st.cache_data(ttl=TTL_S, show_spinner="Re-pricing…")
def _what_if(source: str, me, filters: Filters, mapping: tuple) -> WhatIf:
    return door().what_if(me, filters, dict(mapping))


def _fmt(kind: str, v, delta: bool = False) -> str | None:
    if v is None:
        return None
    sign = ("-" if v < 0 else "+") if delta else ""
    a = abs(v) if delta else v
    return sign + {"usd": lambda: usd(a), "count": lambda: f"{a:,}", "pct": lambda: f"{a * 100:.1f} %"
                   if not delta else f"{a * 100:.1f} pts", "ms": lambda: f"{a:,.0f} ms"}[kind]()


PART_ORDER = list(BREAKDOWN_LABELS.values())
LABELS = {"part": "Token type", "spend_usd": "Spend (USD)", "day": "Day", "user": "User", "error_code": "Error code", "value": "",
          "variable": "", "calls": "Calls", "model": "Model", "status": "Outcome"}
SERIES = {"input_tokens": "Input tokens", "output_tokens": "Output tokens", "p50_latency_ms": "Latency p50",
          "p95_latency_ms": "Latency p95", "p50_ttft_ms": "First token p50", "p95_ttft_ms": "First token p95"}
PLOTLY_CONFIG = {"displayModeBar": False}  # the toolbar covers the title on a phone; nothing here needs it


def _chart(fig, key: str, where=st, y_title: str | None = None) -> None:
    # Legend in a row under the plot: at the side it takes half the width of a narrow chart.
    fig.update_layout(margin={"t": 48, "b": 8, "l": 8, "r": 8}, legend_title_text="",
                      legend={"orientation": "h", "yanchor": "top", "y": -0.2, "xanchor": "left", "x": 0})
    fig.for_each_trace(lambda t: t.update(name=SERIES.get(t.name, t.name)))
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    if "day" in key or key in ("chart_tokens", "chart_latency"):
        fig.update_xaxes(tickformat="%d %b", title_text="")
    if key == "chart_latency":  # p95 latency dwarfs time to first token: a log axis shows both
        fig.update_yaxes(type="log", dtick=1, tickformat=",.0f")  # 100, 1,000, 10,000: no minor-tick digits
    where.plotly_chart(plotly_safe(fig), key=key, config=PLOTLY_CONFIG)  # user ids as text, never HTML


me = require_user()
d = door()
st.title("Usage & cost")
if not d.has_ledger:
    st.warning("The ledger is off (TOLLGATE_LEDGER_URL=off): nothing is recorded.")
    st.stop()
url = d.source_id

try:
    user_opts, model_opts = _options(url, me)
except TollgateError as err:
    show_error(err)
    st.stop()
if not model_opts:
    st.info("No calls recorded yet." + (" Fill the ledger with 90 days of demo calls from **Users & budgets → "
            "Demo data** (or `python -m core demo-data`), then come back." if me.is_admin else
            " Make a call in the Playground and it shows up here."), icon=":material/inbox:")
    st.stop()

default_tz = d.budget_tz
zones = [default_tz, *[z for z in ZONES if z != default_tz]]
f1, f2, f3, f4 = st.columns([2, 1, 2, 2])
tz = f2.selectbox("Time zone", zones, key="usage_tz")
now = d.now()
today = now.astimezone(ZoneInfo(tz)).date()
# The period is in session state (not the widget's default), so a zone change can move it:
# "the last 30 days" in Tokyo ends on Tokyo's today, or today's calls there would vanish.
was = st.session_state.get("usage_period_tz")
picked = st.session_state.get("usage_period")
if picked is None or not isinstance(picked, tuple | list) or len(picked) == 0:
    st.session_state["usage_period"] = default_period(now, tz)
elif was is not None and was != tz and len(picked) == 2:
    st.session_state["usage_period"] = follow_zone(tuple(picked), was, tz, now)
st.session_state["usage_period_tz"] = tz
period = f1.date_input("Period", max_value=today, key="usage_period")
if not isinstance(period, tuple) or len(period) != 2:
    st.info("Pick the last day of the period.")
    st.stop()
users = f3.multiselect("Users", user_opts, key="usage_users", placeholder="Everyone") if me.is_admin else None
models = f4.multiselect("Models", model_opts, key="usage_models", placeholder="Every model")
filters = Filters(period[0], period[1], tz, tuple(users) if users else None,
                               tuple(models) if models else None)
report = _report(url, me, filters)

st.caption(f"{filters.since:%d %b %Y} – {filters.until:%d %b %Y} ({tz}), compared with the {filters.days} days before."
           + ("" if me.is_admin else f" Only your own calls (`{me.username}`)."))
for col, t in zip([*st.columns(4), *st.columns(4)], report.tiles, strict=False):
    col.metric(t.label, _fmt(t.kind, t.value) or "—", _fmt(t.kind, t.delta, delta=True),
               delta_color="normal" if t.up_is_good else "inverse", help=f"Previous period: {_fmt(t.kind, t.previous)}")

if report.empty:
    st.info("No calls match these filters.", icon=":material/filter_alt_off:")
else:
    a, b = st.columns(2)
    _chart(px.bar(report.spend_by_day, x="day", y="spend_usd", color="model", labels=LABELS,
                  title="Spend per day by model (USD)"), "chart_spend_day", a)
    _chart(px.bar(report.spend_by_user, x="user", y="spend_usd", labels=LABELS, title="Spend by user (USD)"),
           "chart_spend_user", b)
    _chart(px.line(report.tokens_by_day, x="day", y=["input_tokens", "output_tokens"], labels=LABELS,
                   markers=True, title="Tokens per day"), "chart_tokens", a, y_title="Tokens")
    _chart(px.line(report.latency_by_day, x="day", y=["p50_latency_ms", "p95_latency_ms", "p50_ttft_ms", "p95_ttft_ms"],
                   labels=LABELS, markers=True, title="Latency and time to first token (ms, successful calls)"),
           "chart_latency", b, y_title="Milliseconds (log scale)")
    if len(report.errors):
        errs = report.errors.assign(error_code=report.errors["error_code"].fillna("").str.replace("_", " "))
        _chart(px.bar(errs, x="error_code", y="calls", color="status", labels=LABELS,
                      title="Errors and refusals by code"), "chart_errors")
    c, t = st.columns([3, 2])
    _chart(px.bar(report.spend_by_part_day, x="day", y="spend_usd", color="part", labels=LABELS,
                  category_orders={"part": PART_ORDER}, title="Spend per day by token type (USD)"),
           "chart_spend_part_day", c)
    parts = report.spend_by_part
    t.markdown("**Spend by token type**")
    t.table(parts.assign(cost=[usd(v) for v in parts["cost_usd"]],
                         share=[f"{v * 100:.1f} %" for v in parts["share"]])[["label", "cost", "share"]]
            .rename(columns={"label": "Token type", "cost": "Spend", "share": "Share"}).set_index("Token type"))
    t.caption("Each call's cost split as it was priced (batch and data-residency factors included); web search "
              "is $10 per 1,000 searches. Code execution is billed per container-hour in Anthropic's cost "
              "report, not per call, so it is not here.")

st.subheader("Budgets this month")
if not d.has_budgets:
    st.caption("Budgets need the ledger, and it is off.")
else:
    board = d.budget_board(me)
    if board.empty:
        st.caption("No budget set." + (" Set one in **Users & budgets**." if me.is_admin else ""))
    for row in board.itertuples(index=False):
        who = "Organisation" if row.user_id == "*" else plain(row.user_id)
        st.progress(row.progress, text=f"**{who}**: {usd(row.spent_usd)} of {usd(row.budget_usd)} "
                    f"({row.pct_used:.0f} %), {usd(row.reserved_usd)} reserved · alert: **{row.alert}**")

st.subheader("Most expensive calls")
st.dataframe(money_table(report.expensive, "cost_usd"), hide_index=True,
             column_order=[*[k for k in report.expensive.columns if k != "id"], "id"],  # the uuid last
             column_config={"ts": st.column_config.DatetimeColumn(f"time ({tz})", format="YYYY-MM-DD HH:mm:ss"),
                            "cost_usd": "cost", **{k: k.replace("_", " ") for k in report.expensive.columns
                                                   if k not in ("ts", "cost_usd")}})

d1, d2, _ = st.columns([1, 1, 4])
stem = f"tollgate-usage-{filters.since}-{filters.until}"
d1.download_button("Download CSV", lambda: d.usage_csv(me, filters),
                   file_name=f"{stem}.csv", mime="text/csv", key="dl_csv", on_click="ignore")
d2.download_button("Download Parquet", lambda: d.usage_parquet(me, filters),
                   file_name=f"{stem}.parquet", mime="application/octet-stream", key="dl_parquet",
                   on_click="ignore")

st.subheader("What if")
st.caption("Re-price the calls above as if they had gone to another model, or to another tier mapping. "
           "Nothing stored changes.")
how = st.radio("Re-price as", ["One model for everything", "Another tier mapping"], horizontal=True, key="wi_how")
priced = d.priced_models()
if how == "One model for everything":
    target = st.columns(2)[0].selectbox("Model", priced, index=None, placeholder="Choose a model", key="wi_model")
    mapping = all_on(target, filters.models or model_opts) if target else None
else:
    current = d.tiers()
    cols = st.columns(len(current))
    proposed = {t: col.selectbox(t, priced, index=priced.index(m) if m in priced else None, key=f"wi_tier_{t}")
                for col, (t, m) in zip(cols, current.items(), strict=True)}
    mapping = tier_mapping(current, {t: m for t, m in proposed.items() if m})
if mapping:
    w = _what_if(url, me, filters, tuple(sorted(mapping.items())))
    m1, m2, m3 = st.columns(3)
    m1.metric("As recorded", usd(w.original_usd))
    m2.metric("Re-priced", usd(w.new_usd))
    m3.metric("Difference", _fmt("usd", w.difference_usd, delta=True), delta_color="off")
    st.dataframe(money_table(w.by_model, "original_cost_usd", "new_cost_usd", "difference_usd"), hide_index=True)
elif mapping is not None:
    st.caption("That mapping is today's: nothing to re-price.")
