"""Spend per day and part, summed in one pass over the rows, is the frame a pandas group per day gave."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from core.reports import breakdown


def _per_group(daily: pd.DataFrame) -> pd.DataFrame:
    """The definition (the code before the one-pass sum): each day's rows summed part by part."""
    out = []
    for day, group in daily.groupby("day", sort=True):
        for _, label, names in breakdown.PARTS:
            cost = sum((Decimal(v) for n in names for v in group[n]), Decimal(0))
            if cost:
                out.append({"day": day, "part": label, "spend_usd": float(cost)})
    return pd.DataFrame(out, columns=["day", "part", "spend_usd"])


@pytest.mark.parametrize("seed", range(20))
def test_spend_by_day_and_part_is_the_group_by_group_sum(seed):
    rnd = random.Random(seed)
    names = [n for _, _, ns in breakdown.PARTS for n in ns]
    rows = []
    for d in rnd.sample(range(60), rnd.randint(1, 40)):  # days out of order, some with one model only
        for model in rnd.sample(["haiku", "sonnet", "opus"], rnd.randint(1, 3)):
            row = {"day": date(2026, 1, 1) + timedelta(days=d), "model": model}
            for n in names:  # zeros, exact cents and 1e-10 USD units; some parts never spent
                row[n] = rnd.choice([Decimal(0), Decimal(rnd.randint(0, 10**12)).scaleb(-10),
                                     Decimal(rnd.randint(0, 900)).scaleb(-2)]) if rnd.random() < 0.7 else Decimal(0)
            row["cost_usd"] = sum((row[n] for n in names), Decimal(0))
            rows.append(row)
    daily = pd.DataFrame(rows)
    pd.testing.assert_frame_equal(breakdown.by_day_and_part(daily), _per_group(daily), check_exact=True)


def test_no_rows_no_spend():
    empty = pd.DataFrame(columns=["day", "model", "cost_usd"])
    assert list(breakdown.by_day_and_part(empty).columns) == ["day", "part", "spend_usd"]
