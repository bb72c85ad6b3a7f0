"""The page's percentiles, computed for every histogram at once, are the very floats of ``from_histogram`` slice by slice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.ledger.schema import LATENCY, NULL_BUCKET, TTFT
from core.reports import latency


def _frame(rng, days: int, widest: int) -> pd.DataFrame:
    rows = []
    for d in range(days):
        for metric in (LATENCY, TTFT):
            if rng.random() < 0.15:  # a day with no time-to-first-token (or no latency) histogram at all
                continue
            for b in rng.choice(np.r_[np.arange(400), [NULL_BUCKET]], size=int(rng.integers(1, widest)), replace=False):
                rows.append((f"2026-01-{d:03d}", f"m{d % 3}", metric, int(b),
                             int(rng.integers(1, 5000)) if rng.random() < 0.8 else 1))
    return pd.DataFrame(rows, columns=["day", "model", "metric", "bucket_no", "n"])


def _one_by_one(df: pd.DataFrame, groups: list[str]) -> dict[tuple, dict]:
    """The definition: each (group, metric) histogram on its own through ``from_histogram``."""
    out: dict[tuple, dict] = {}
    df = df.groupby([*groups, "metric", "bucket_no"], as_index=False)["n"].sum()  # a bucket's rows are one count
    for key, part in df.groupby([*groups, "metric"], sort=True):
        *group, metric = key
        row = out.setdefault(tuple(group), {})
        name = "latency" if metric == LATENCY else "ttft"
        b, n = part["bucket_no"].to_numpy(np.int64), part["n"].to_numpy(np.int64)
        if name == "latency":
            row["calls"] = int(n.sum())
        for f in latency.FRACTIONS:
            row[f"p{round(f * 100)}_{name}_ms"] = latency.from_histogram(b, n, f)
    return out


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("groups", [["day"], ["day", "model"], ["model"]])
def test_every_figure_is_the_one_histogram_by_histogram(seed, groups):
    rng = np.random.default_rng(seed)
    df = _frame(rng, int(rng.integers(1, 25)), int(rng.integers(2, 50)))
    got = {tuple(r[g] for g in groups): r for r in latency.from_histograms(df, groups).to_dict("records")}
    want = _one_by_one(df, groups)
    assert got.keys() == want.keys()
    for key, row in want.items():
        for column in latency.COLUMNS:
            value = row.get(column)
            if value is None:
                assert pd.isna(got[key][column]), (key, column)
            else:
                assert got[key][column] == value, (key, column)  # the same float, not merely close


def test_a_histogram_of_null_latencies_only_has_calls_but_no_percentile():
    df = pd.DataFrame([("d1", LATENCY, NULL_BUCKET, 3), ("d2", LATENCY, 160, 1), ("d2", TTFT, 150, 2)],
                      columns=["day", "metric", "bucket_no", "n"])
    rows = latency.from_histograms(df, ["day"]).set_index("day")
    assert rows.loc["d1", "calls"] == 3 and pd.isna(rows.loc["d1", "p50_latency_ms"])
    assert rows.loc["d2", "p50_latency_ms"] == pytest.approx(2 ** (160.5 / 16))
    low, high = 2 ** (150.25 / 16), 2 ** (150.75 / 16)  # two values, placed evenly in bucket 150
    assert pd.isna(rows.loc["d1", "p50_ttft_ms"]) and rows.loc["d2", "p95_ttft_ms"] == pytest.approx(
        low + (high - low) * 0.95)
