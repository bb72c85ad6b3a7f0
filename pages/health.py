"""Is the API up, the ledger writable, the cache useful, the circuit closed? One verdict per part, live."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from pages.widgets import door, require_user

me = require_user()
d = door()
st.title("Health")

OVERALL = {"ok": "healthy", "warn": "needs attention", "fail": "failing"}
ICON = {"ok": ":material/check_circle:", "warn": ":material/warning:", "fail": ":material/error:"}
BOX = {"ok": st.success, "warn": st.warning, "fail": st.error}
TITLES = {"upstream": "Upstream API", "ledger": "Ledger", "cache": "Response cache", "limiter": "Limiter headroom",
          "shared": "Shared state (Redis)", "breaker": "Circuit breaker", "keys": "API keys", "errors": "Recent errors"}
every = st.segmented_control("Refresh every", ["5 s", "10 s", "30 s", "60 s", "off"], default="10 s",
                             key="health_refresh")
run_every = None if every in (None, "off") else timedelta(seconds=int(every.split()[0]))


def pct(share) -> str:
    return "—" if share is None else f"{share:.0%}"


def card(name: str, p: dict) -> None:
    with st.container(border=True, height="stretch"):
        st.markdown(f"{ICON[p['status']]} **{TITLES[name]}**")
        st.caption(p["reason"])


def upstream(p: dict) -> None:
    cols = st.columns(2)
    cols[0].metric("GET /v1/models", "—" if p.get("latency_ms") is None else f"{p['latency_ms']:.0f} ms")
    cols[1].metric("Address", p.get("base_url") or "—")


def ledger(p: dict) -> None:
    cols = st.columns(4)
    cols[0].metric("Write (probe row)", "—" if p.get("write_ms") is None else f"{p['write_ms']:.1f} ms")
    cols[1].metric("Read (probe row)", "—" if p.get("read_ms") is None else f"{p['read_ms']:.1f} ms")
    cols[2].metric("Spool backlog", p.get("spool_pending", 0))
    cols[3].metric("Backend", p.get("backend") or "off")
    if me.is_admin and p.get("url"):
        st.caption(f"`{p['url']}` · schema version {p.get('schema_version')} · {p.get('rows') or 0:,} calls")


def cache(p: dict) -> None:
    cols = st.columns(4)
    cols[0].metric("Backend", p.get("backend", "off"))
    cols[1].metric("Entries", "—" if p.get("entries") is None else f"{p['entries']:,}")
    cols[2].metric("Hit rate", pct(p.get("hit_rate")))
    cols[3].metric("Hits / misses", f"{p.get('hits', 0)} / {p.get('misses', 0)}")


def limiter(p: dict) -> None:
    names = sorted(set(p["local"]) | {k.replace("-", "_") for k in p["server"]})
    server = {k.replace("-", "_"): v for k, v in p["server"].items()}
    st.dataframe(pd.DataFrame({"limit": names, "left here": [pct(p["local"].get(n)) for n in names],
                               "left (server reports)": [pct(server.get(n)) for n in names]}),
                 hide_index=True, width="stretch")


def shared(p: dict) -> None:
    cols = st.columns(4)
    cols[0].metric("Backend", p.get("backend", "memory"))
    cols[1].metric("Failure mode", p.get("failure", "—"))
    cols[2].metric("Replicas", p.get("replicas", "—"))
    cols[3].metric("Fallbacks", p.get("fallbacks", 0))
    for part_name, why in (p.get("degraded") or {}).items():
        st.caption(f"{part_name}: {why}")


def breaker(p: dict) -> None:
    cols = st.columns(3)
    cols[0].metric("State", p["state"].replace("_", "-"))
    cols[1].metric("Failures in window", f"{p['failures_in_window']} / {p['failure_threshold']}")
    nxt = p.get("next_probe_at")
    cols[2].metric("Next probe", "—" if nxt is None else f"{nxt:%H:%M:%S} UTC")


def keys(p: dict) -> None:
    st.dataframe(pd.DataFrame([{"label": k["label"], "key": k["masked"], "source": k["source"],
                                "age (days)": k["age_days"], "failing": k["failing"], "in use": k["current"]}
                               for k in p["keys"]]), hide_index=True, width="stretch")


def errors(p: dict) -> None:
    if not p["rows"]:
        st.caption("None recorded.")
        return
    frame = pd.DataFrame(p["rows"])  # an analyst's rows come without key labels (core.console.door)
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_config={"ts": st.column_config.DatetimeColumn("time (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                                "user_id": "user", "error_code": "error code", "request_id": "request id",
                                "key_label": "key"})


SHOW = {"upstream": upstream, "ledger": ledger, "cache": cache, "limiter": limiter, "shared": shared,
        "breaker": breaker,
        "keys": keys, "errors": errors}


@st.fragment(run_every=run_every)
def live() -> None:
    """Only this part re-runs on the timer: the probes, not the whole page."""
    report = d.health(me)  # an analyst sees only their own recent errors
    top = st.columns([1, 3])
    top[0].metric("Overall", OVERALL[report["status"]])
    with top[1]:
        BOX[report["status"]](report["reason"], icon=ICON[report["status"]])
        st.caption(f"Checked {report['checked_at']:%H:%M:%S} UTC"
                   + ("" if run_every is None else f" · refreshes every {every}"))
    found = list(report["parts"].items())
    for start in range(0, len(found), 4):  # at a glance: one card per part
        for col, (name, p) in zip(st.columns(4), found[start:start + 4], strict=False):
            with col:
                card(name, p)
    for name, p in found:  # the figures behind each verdict; open when something is wrong
        with st.expander(f"{TITLES[name]}: details", expanded=p["status"] != "ok", icon=ICON[p["status"]]):
            SHOW[name](p)
    with st.expander("Calls since this process started (the Prometheus series /metrics serves)"):
        st.json(report["metrics"])


live()
