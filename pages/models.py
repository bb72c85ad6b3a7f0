"""Models and prices: the dated price table, the tier mapping, and a cost calculator across models."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.widgets import door, require_user, usd

require_user()
d = door()
st.title("Models & prices")
st.caption(f"Price table version `{d.price_version}` · USD per million tokens · each call is priced with "
           "the row in effect on its UTC date.")

sheet = pd.DataFrame(d.prices()).sort_values(["status", "model"])  # current first
show_all = st.toggle("Show superseded price rows", value=False)
if not show_all:
    sheet = sheet[sheet["in_effect"]]
st.caption("Status: **current** models are offered everywhere; **legacy** and **older** ones still answer "
           "(the Playground shows them behind a toggle); **retired** ones are refused by the API.")
st.dataframe(sheet.drop(columns=["in_effect"]), hide_index=True, width="stretch",
             column_config={"effective_from": st.column_config.DateColumn("effective from"),
                            "cache_write_5m": "cache write (5 min)", "cache_write_1h": "cache write (1 hour)",
                            "cache_read": "cache read", "long_prompt_band": "long-prompt band",
                            "source": st.column_config.TextColumn("source", width="small")})

st.subheader("Tiers")
st.caption("Ask for a tier instead of a model; engineers change the mapping with TOLLGATE_TIER_* settings.")
st.dataframe(pd.DataFrame([{"tier": t, "model": m} for t, m in d.tiers().items()]), hide_index=True)

st.subheader("Calculator")
st.caption("What the same call would cost on every model you can call, cheapest first (retired models left out).")
cols = st.columns(5)
tokens = dict(input_tokens=int(cols[0].number_input("Input tokens", 0, 10_000_000, 2_000, step=100)),
              output_tokens=int(cols[1].number_input("Output tokens", 0, 1_000_000, 500, step=100)),
              cache_creation_5m_tokens=int(cols[2].number_input("Cache writes (5 min)", 0, 10_000_000, 0, step=100)),
              cache_creation_1h_tokens=int(cols[3].number_input("Cache writes (1 hour)", 0, 10_000_000, 0,
                                                                step=100)),
              cache_read_tokens=int(cols[4].number_input("Cache reads", 0, 10_000_000, 0, step=100)))
costs = pd.DataFrame(d.costs(**tokens))
costs.insert(1, "cost", [usd(v) for v in costs["cost_usd"]])
costs["cost_usd"] = costs.pop("exact_usd")  # the exact decimal, as text (never a float)
st.dataframe(costs, hide_index=True, width="stretch",
             column_config={"cost_usd": st.column_config.TextColumn("exact (USD)"),
                            "price_version": st.column_config.TextColumn("price version")})
