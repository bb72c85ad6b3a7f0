"""AppTest fixtures: a demo-mode console on a private DuckDB ledger, caches cleared between tests."""

from __future__ import annotations

import pytest
import streamlit as st


@pytest.fixture(autouse=True)
def demo_env(tmp_path, monkeypatch):
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY_FILE", "TOLLGATE_AWS_SECRET_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TOLLGATE_LEDGER_URL", f"duckdb:///{tmp_path / 'ledger.duckdb'}")
    monkeypatch.setenv("TOLLGATE_SPOOL_PATH", str(tmp_path / "ledger.spool"))
    monkeypatch.setenv("TOLLGATE_SIM_TTFT_S", "0")
    monkeypatch.setenv("TOLLGATE_SIM_TOKENS_PER_S", "0")
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    for fn in (st.cache_resource, st.cache_data):
        fn.clear()
