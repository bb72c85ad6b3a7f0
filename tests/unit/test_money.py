"""Money for people: one formatter, no $0.000000, no exponent, exact figures kept elsewhere."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from core import errors
from core.console.advice import advice
from core.money import usd


@pytest.mark.parametrize("amount, shown", [
    (D("0"), "$0.00"), (D("0E-10"), "$0.00"), (0, "$0.00"),
    (D("0.0000035"), "$0.0000035"), (D("0.000423"), "$0.000423"), (D("0.0004237"), "$0.000424"),
    (D("0.0099999"), "$0.01"), (D("0.01"), "$0.01"), (D("0.0123"), "$0.0123"), (D("0.125"), "$0.125"),
    (D("0.5"), "$0.50"), (D("0.999"), "$0.999"), (D("0.9999"), "$1.00"), (D("2.5"), "$2.50"), (D("2.555"), "$2.56"),
    (D("1E+9"), "$1,000,000,000.00"), (1e9, "$1,000,000,000.00"), ("1e9", "$1,000,000,000.00"),
    (D("1234567.891"), "$1,234,567.89"), (D("-2.5"), "-$2.50"), (D("-0.0005"), "-$0.0005"),
    (None, "—"), ("abc", "—"), (D("NaN"), "—"),
])
def test_usd_reads_at_a_glance(amount, shown):
    assert usd(amount) == shown


def test_the_budget_refusal_quotes_the_user_once_and_shows_money_plainly():
    err = errors.BudgetExceeded("analyst", D("0E-10"), D("1E+9"))
    assert "''s" not in err.message and "'analyst'" in err.message
    assert "$0.00 left" in err.message and "$1,000,000,000.00 needed" in err.message
    assert "E+" not in err.message and "0.000000" not in err.message
    from datetime import UTC, datetime
    said = advice(err, datetime(2026, 12, 1, tzinfo=UTC))
    assert "$0.00 left" in said and "$1,000,000,000.00" in said
