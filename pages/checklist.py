"""The production checklist, checked against the running configuration; admins tick what code cannot check."""

from datetime import UTC, datetime

import streamlit as st

from core.checklist.items import FAIL, MANUAL, PASS, WARN
from core.checklist.report import markdown, summary
from core.errors import TollgateError
from core.render import safe_markdown
from pages.widgets import door, require_user, show_error

me = require_user()
d = door()
st.title("Production checklist")
st.caption(f"Environment: **{d.environment}** (TOLLGATE_ENVIRONMENT). Each item is checked against this "
           "running console; items no code can check are ticked by an admin, who is recorded with the time.")

COLOR = {PASS: "green", WARN: "orange", FAIL: "red", MANUAL: "gray"}
ICON = {PASS: ":material/check_circle:", WARN: ":material/warning:", FAIL: ":material/cancel:",
        MANUAL: ":material/check_box_outline_blank:"}
ticks = {}
if not d.has_ledger:
    st.warning("The ledger is off, so ticks on manual items cannot be stored.", icon=":material/warning:")
else:
    try:
        ticks = d.ticks(me)
    except Exception as exc:  # noqa: BLE001 - the database is down: show the checks, without ticks
        st.warning(f"Ticks are unavailable: the ledger database did not answer ({type(exc).__name__}).")
rows = d.checklist(me, ticks, headers=dict(st.context.headers))
counts = summary(rows)

cols = st.columns(5)
cols[0].metric("Done", f"{counts['done']} / {counts['total']}")
cols[1].metric("Pass", counts[PASS])
cols[2].metric("Warn", counts[WARN])
cols[3].metric("Fail", counts[FAIL])
cols[4].metric("Manual", f"{counts['ticked']} / {counts[MANUAL]} ticked")

report = markdown(rows, environment=d.environment, generated_at=datetime.now(UTC), generated_by=me.username)
st.download_button("Download the report (Markdown)", report, file_name="tollgate-checklist.md",
                   mime="text/markdown", icon=":material/download:", key="checklist_download")


def act(fn, *args, **kw) -> None:
    try:
        fn(me, *args, **kw)
    except TollgateError as err:
        show_error(err)
    else:
        st.rerun()


for row in rows:
    item = row.item
    with st.container(border=True, key=f"item_{item.id}"):
        head = st.columns([4, 1])
        head[0].markdown(f"**{item.title}**")
        if row.tick:
            head[1].badge("ticked", color="green", icon=":material/check_box:")
        else:
            head[1].badge(row.status, color=COLOR[row.status], icon=ICON[row.status])
        st.write(row.reason)
        st.caption(f"Why: {item.why}")
        if row.status != PASS:
            st.caption(f"How to fix: {item.fix}")
        if row.status != MANUAL:
            continue
        if row.tick:
            t = row.tick
            st.caption(f"Ticked by **{t.ticked_by}** on {t.ticked_at:%Y-%m-%d %H:%M} UTC"
                       + (f": {safe_markdown(t.note)}" if t.note else ""))
        if not me.is_admin:
            st.caption("Only an admin can tick this item.")
        elif not d.has_ledger:
            continue
        elif row.tick:
            if st.button("Untick", key=f"untick_{item.id}"):
                act(d.untick, item.id)
        else:
            note = st.text_input("Note (how it was checked)", key=f"note_{item.id}")
            if st.button("Tick: checked by hand", key=f"tick_{item.id}", type="primary"):
                act(d.tick, item.id, note=note)
