"""Run a prompt over a spreadsheet: upload, template, preview, quote, submit (batch or now), watch, results, compare."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import BudgetExceeded, TollgateError
from core.render import plain
from pages.widgets import door, money_table, require_user, show_error, usd

me = require_user()
d = door()
b = d.batches
st.title("Batch runs")
st.caption("One prompt over every row of a spreadsheet: batch mode at half price (results within hours, usually "
           "minutes), or now, row by row. The whole run's worst case is held against your budget before it starts.")
PICK = "bt_pick"  # the run shown below: the latest one unless another is picked
WANT = "bt_want"  # a run just started: shown below on the next draw
FORMATS = {"csv": ("CSV", "text/csv"), "parquet": ("Parquet", "application/vnd.apache.parquet"),
           "jsonl": ("JSONL", "application/x-ndjson")}


def problem(err: TollgateError) -> None:
    """A refusal whose message may quote the file (a column name, a cell): shown as text, never as Markdown."""
    st.error(f"{plain(err.message)}  \n`{err.code}`", icon=":material/error:")


def insert(column: str) -> None:
    """Append ``{{column}}`` to the template (a button's callback: runs before the text area is drawn)."""
    st.session_state["bt_template"] = (st.session_state.get("bt_template") or "") + "{{" + column + "}}"


def label(r) -> str:
    """A run for the run selectors: name, mode, rows, model, when (UTC), its id's start, whose for an admin.

    Labels must differ (a selector keeps its choice by label); the run's state is shown below, not here.
    """
    when = r.created_at.strftime("%Y-%m-%d %H:%M:%S") if r.created_at is not None else "?"
    who = f" · {r.user}" if me.is_admin else ""
    return f"{r.name or 'run'} · {r.mode} · {r.rows:,} rows · {r.model} · {when} · {r.id[:8]}{who}"


def new_run() -> None:
    """Upload, template and settings, preview, quote, dry run and submit."""
    up = st.file_uploader("Spreadsheet (CSV, JSONL or Excel)", type=["csv", "jsonl", "xlsx"], key="bt_file",
                          help="One row a request. The first row of a CSV or sheet names the columns.")
    rows: list[dict] = []
    if up is not None:
        try:
            rows = b.read_file(up.name, up.getvalue())
        except TollgateError as err:
            problem(err)
    if not rows:
        st.caption("Upload a file to start: its columns become the template's `{{column}}` variables.")
        return
    columns = b.columns(rows)
    st.markdown(f"**{len(rows):,} rows** · click a column to insert it in the template:")
    grid = st.columns(min(6, len(columns)))
    for i, c in enumerate(columns):
        grid[i % len(grid)].button(plain("{{" + c + "}}"), key=f"bt_col_{i}", on_click=insert, args=(c,),
                                   width="stretch")
    with st.expander("The file's first rows", expanded=False):
        st.dataframe(pd.DataFrame(rows[:10], columns=columns), hide_index=True)
    template = st.text_area("Prompt template", key="bt_template", height=120,
                            placeholder="Summarise this support ticket in one line: {{" + columns[0] + "}}")

    with st.expander("Model and settings", expanded=True):
        left, right = st.columns([2, 1])
        models = d.models(legacy=False)
        default = d.default_model()
        model = left.selectbox("Model", models, index=models.index(default) if default in models else 0,
                               format_func=d.model_label, key="bt_model")
        name = right.text_input("Run name (optional)", key="bt_name", max_chars=80)
        c1, c2 = st.columns(2)
        temperature = c1.slider("Temperature", 0.0, 1.0, 1.0, 0.05, key="bt_temperature",
                                help="0 answers the same way each time.")
        max_tokens = int(c2.number_input("Max output tokens", 1, d.max_output_tokens(model), 1024,
                                         key="bt_max_tokens", help="Per row: the budget holds this for every row."))
        system = st.text_area("System prompt (optional)", key="bt_system", height=80)
    if not template.strip():
        return
    request = dict(template=template, rows=rows, model=model, max_tokens=max_tokens,
                   system=system.strip() or None, temperature=temperature, name=name.strip() or None)

    st.markdown("**Preview** (the first prompts as they will be sent)")
    # The preview checks every row (about 1 s for 10,000): kept for the same inputs, so other clicks stay quick.
    same = (up.file_id, template, model, max_tokens, request["system"], temperature)
    kept = st.session_state.get("bt_preview")
    try:
        prompts = kept[1] if kept and kept[0] == same else b.preview(me, n=3, **request)
    except TollgateError as err:
        problem(err)
        return
    st.session_state["bt_preview"] = (same, prompts)
    for i, text in enumerate(prompts):
        st.caption(f"Row {i + 1}")
        st.text(text)

    modes = {"batch": "Batch (50 % off, results when the batch ends)", "now": "Now (row by row, full price)"}
    mode = st.segmented_control("Mode", list(modes), format_func=modes.get, key=f"bt_mode_{up.file_id}",
                                default=b.default_mode(len(rows))) or b.default_mode(len(rows))
    try:
        q = b.quote(me, mode=mode, **request)
    except TollgateError as err:
        show_error(err)
        return
    m = st.columns(4)
    m[0].metric("Standard price (worst case)", usd(q.standard_usd))
    m[1].metric("Batch price (worst case)", usd(q.batch_usd))
    m[2].metric("Budget left", "no budget set" if q.budget_left is None else usd(q.budget_left))
    m[3].metric("Rows that fit", f"{q.fits_rows:,} of {q.rows:,}")
    fits = q.fits_rows >= q.rows
    if not fits:
        st.warning(f"This run does not fit the budget left at the {mode} price: {q.fits_rows:,} of "
                   f"{q.rows:,} rows would. Use fewer rows, a smaller max output tokens, or batch mode.",
                   icon=":material/savings:")

    go, dry, n_col = st.columns([2, 1, 1])
    n = int(n_col.number_input("Dry-run rows", 1, min(20, len(rows)), min(3, len(rows)), key="bt_dry_n",
                               label_visibility="collapsed"))
    started = None
    try:
        if dry.button(f"Dry run on {n} row{'s' if n != 1 else ''}", key="bt_dry", width="stretch",
                      help="These rows now, at the standard price, as a run of their own."):
            started = b.dry_run(me, n, **request)
        if go.button(f"Submit {q.rows:,} rows ({mode} mode)", type="primary", key="bt_submit", disabled=not fits,
                     width="stretch"):
            started = b.submit(me, mode=mode, **request)
    except BudgetExceeded as err:
        show_error(err)
    except TollgateError as err:
        problem(err)
    if started is not None:
        st.session_state[WANT] = started.id  # the next draw shows it below
        st.rerun()


def progress(s) -> None:
    """A run's progress bar and counts (succeeded, failed, pending, spent so far)."""
    c = s.counts
    text = (f"{s.state.replace('_', ' ')}: {c.get('succeeded', 0):,} succeeded · {c.get('failed', 0):,} failed · "
            f"{c.get('pending', 0):,} pending" + (f" · {c['canceled']:,} cancelled" if c.get("canceled") else "")
            + (f" · {c['expired']:,} expired" if c.get("expired") else ""))
    st.progress(min(1.0, max(0.0, float(s.progress))), text=text)
    m = st.columns(4)
    m[0].metric("Succeeded", f"{c.get('succeeded', 0):,}")
    m[1].metric("Failed", f"{c.get('failed', 0):,}")
    m[2].metric("Pending", f"{c.get('pending', 0):,}")
    m[3].metric("Spent so far", usd(s.spent_usd), help=f"held for the run: {usd(s.reserved_usd)}")


def results(run_id: str) -> None:
    """The results joined to the input rows (every cell as text), and the downloads."""
    rows = b.results(me, run_id)
    st.dataframe(money_table(pd.DataFrame(rows), "cost_usd"), hide_index=True, width="stretch")
    cols = st.columns(len(FORMATS))
    for col, (fmt, (name, mime)) in zip(cols, FORMATS.items(), strict=True):
        col.download_button(f"Download {name}", b.export(me, run_id, fmt), f"batch-{run_id[:8]}.{fmt}", mime,
                            key=f"bt_dl_{fmt}", width="stretch")


def watch(run_id: str, was_active: bool) -> None:
    """The chosen run, redrawn every few seconds while it moves; a full redraw once it stops."""
    try:
        s = b.status(me, run_id)
    except TollgateError as err:
        problem(err)
        return
    now_active = b.active(s)
    if was_active and not now_active:
        st.rerun()  # it just finished: redraw the page without the timer, with the results
    progress(s)
    if getattr(s, "detail", None):
        st.caption(plain(s.detail))
    if now_active:
        if st.button("Cancel run", key="bt_cancel", icon=":material/cancel:"):
            try:
                b.cancel(me, run_id)
            except TollgateError as err:
                problem(err)
            st.rerun(scope="fragment")
        st.caption(f"Refreshing every {b.refresh_s:g} s; you may leave the page: the run goes on and is here "
                   "when you come back.")
    else:
        results(run_id)


def compare(run_id: str, runs: dict) -> None:
    """This run and another over the same rows, side by side with cost and latency."""
    others = [r.id for r in b.comparable(me, run_id)]
    if not others:
        st.caption("Run the same file again with another prompt or model to compare the two runs side by side.")
        return
    other = st.selectbox("Compare with", others, format_func=lambda i: label(runs[i]), key="bt_other")
    try:
        c = b.compare(me, run_id, other)
    except TollgateError as err:
        problem(err)
        return
    for col, tag, side in zip(st.columns(2), "AB", (c.a, c.b), strict=True):
        with col.container(border=True):
            st.markdown(f"**{tag}: {plain(side.name or 'run')}** · {plain(side.model)} · {side.mode}")
            x, y, z = st.columns(3)
            x.metric("Cost", usd(side.cost_usd), help=f"exact: ${side.cost_usd}")
            y.metric("Median latency", "—" if side.latency_median_ms is None else f"{side.latency_median_ms:.0f} ms")
            z.metric("Succeeded", f"{side.succeeded:,} of {side.rows:,}")
    st.info(plain(c.verdict), icon=":material/balance:")
    table = money_table(pd.DataFrame(c.rows), "cost_a_usd", "cost_b_usd")
    st.dataframe(table, hide_index=True, width="stretch")


with st.expander("New run", expanded=True, icon=":material/upload_file:"):
    new_run()

st.subheader("Runs")
runs = {r.id: r for r in b.runs(me)}
if not runs:
    st.caption("No runs yet." if not me.is_admin else "No runs yet, by anyone.")
    st.stop()
if st.session_state.get(WANT) in runs:  # set here, before the selector is drawn, so that it takes
    st.session_state[PICK] = st.session_state.pop(WANT)
if st.session_state.get(PICK) not in runs:
    st.session_state[PICK] = next(iter(runs))  # newest first: a reload finds the latest run again
picked = st.selectbox("Run", list(runs), format_func=lambda i: label(runs[i]), key=PICK)
active = b.active(runs[picked])
st.fragment(run_every=b.refresh_s if active else None)(watch)(picked, active)
if not active:
    with st.expander("Compare with another run over the same rows", expanded=False, icon=":material/compare:"):
        compare(picked, runs)
