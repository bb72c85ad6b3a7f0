"""Price table and exact cost: figures worked out by hand from the facts file's prices."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from core.catalog.models import default_catalogue
from core.catalog.pricing import (
    PRICE_KINDS,
    Priced,
    PriceTable,
    breakdown,
    cost,
    load_hypothetical,
    worst_case_cost,
)
from core.types import Usage

D = Decimal
COLLECTED = date(2026, 11, 22)  # the facts file's collection date

# The facts table (/work/shared/reference/anthropic-api-facts.md), USD per MTok:
# input, output, 5-min cache write, 1-hour cache write, cache read.
FACTS = {
    "claude-fable-5-1": ("10", "50", "12.50", "20", "0.25"),
    "claude-opus-5-5": ("4", "20", "5", "8", "0.20"),
    "claude-sonnet-5-5": ("2", "10", "2.50", "4", "0.20"),
    "claude-haiku-5-5": ("0.10", "0.50", "0.125", "0.20", "0.01"),
    "claude-opus-5": ("5", "25", "6.25", "10", "0.50"),
    "claude-sonnet-5": ("2", "10", "2.50", "4", "0.20"),
    "claude-fable-5": ("10", "50", "12.50", "20", "1.00"),
    "claude-opus-4-8": ("5", "25", "6.25", "10", "0.50"),
    "claude-opus-4-7": ("5", "25", "6.25", "10", "0.50"),
    "claude-opus-4-6": ("5", "25", "6.25", "10", "0.50"),
    "claude-opus-4-5-20251101": ("5", "25", "6.25", "10", "0.50"),
    "claude-sonnet-4-6": ("3", "15", "3.75", "6", "0.30"),
    "claude-sonnet-4-5-20250929": ("3", "15", "3.75", "6", "0.30"),
    "claude-haiku-4-5-20251001": ("1", "5", "1.25", "2", "0.10"),
    "claude-opus-4-1": ("15", "75", "18.75", "30", "1.50"),
    "claude-opus-4-20250514": ("15", "75", "18.75", "30", "1.50"),
    "claude-sonnet-4-20250514": ("3", "15", "3.75", "6", "0.30"),
    "claude-3-5-sonnet-20241022": ("3", "15", "3.75", "6", "0.30"),
    "claude-3-haiku-20240307": ("0.25", "1.25", "0.30", "0.50", "0.03"),
}
HAIKU_55_BAND = ("0.50", "2.50", "0.625", "1.00", "0.05")
RELEASED = {"claude-fable-5-1": date(2026, 9, 1), "claude-haiku-5-5": date(2026, 10, 7)}

ROW = """
[[prices]]
model = "{model}"
effective_from = {eff}
input = "{input}"
output = "5"
cache_write_5m = "1.25"
cache_write_1h = "2"
cache_read = "0.10"
source = "test fixture"
"""


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load()


def write_table(tmp_path, body: str, *, version: str = "test-v1", discount: str = '"0.5"'):
    path = tmp_path / "prices.toml"
    path.write_text(f'version = "{version}"\nbatch_discount = {discount}\n{body}', encoding="utf-8")
    return path


def prices_of(obj) -> tuple[Decimal, ...]:
    return tuple(getattr(obj, k) for k in PRICE_KINDS)


# --- the shipped table matches the facts file -----------------------------------------

def test_table_covers_exactly_the_facts_models(table):
    assert set(table.models()) == set(FACTS)


@pytest.mark.parametrize("model", sorted(FACTS))
def test_each_model_priced_as_in_the_facts_file(table, model):
    row = table.row_for(model, COLLECTED)
    assert row is not None and row.model == model
    assert prices_of(row) == tuple(D(p) for p in FACTS[model])
    assert all(isinstance(p, Decimal) for p in prices_of(row))
    assert row.source and "2026-11-22" in row.source
    if model in RELEASED:
        assert row.effective_from == RELEASED[model]
    if model != "claude-haiku-5-5":
        assert row.band is None


def test_sonnet_55_cache_read_is_flagged_for_checking(table):
    note = table.row_for("claude-sonnet-5-5", COLLECTED).note
    assert note and "check" in note and "0.10" in note


def test_haiku_55_band_prices_threshold_and_version(table):
    row = table.row_for("claude-haiku-5-5", COLLECTED)
    assert table.version == "2026-12-02" and table.batch_discount == D("0.5")
    assert row.version == f"{table.version}/claude-haiku-5-5@2026-10-07"
    assert row.band is not None and row.band.threshold_tokens == 100_000
    assert prices_of(row.band) == tuple(D(p) for p in HAIKU_55_BAND)


# --- exact cost ------------------------------------------------------------------------

def test_opus_55_exact_cost_and_breakdown(table):
    # 1,234 x 4 + 567 x 20 + 2,000 x 5 + 3,000 x 8 + 10,000 x 0.20 = 52,276 USD-per-MTok units
    usage = Usage(input_tokens=1234, output_tokens=567, cache_creation_5m_tokens=2000,
                  cache_creation_1h_tokens=3000, cache_read_tokens=10_000)
    row = table.row_for("claude-opus-5-5", COLLECTED)
    c = cost(usage, row)
    assert isinstance(c, Decimal) and c == D("0.052276")
    parts = breakdown(usage, row)
    assert parts == {"input": D("0.004936"), "output": D("0.01134"), "cache_write_5m": D("0.01"),
                     "cache_write_1h": D("0.024"), "cache_read": D("0.002"), "server_tools": D(0)}
    assert sum(parts.values()) == c


@pytest.mark.parametrize(("model", "usage", "expected"), [
    # 10,000 x 0.25 + 2,000 x 1.25 + 4,000 x 0.30 + 1,000 x 0.50 + 30,000 x 0.03 = 7,600
    ("claude-3-haiku-20240307", Usage(10_000, 2_000, 4_000, 1_000, 30_000), "0.0076"),
    # 1,000,000 x 1 + 200,000 x 5 + 40,000 x 0.10, through the alias
    ("claude-haiku-4-5", Usage(1_000_000, 200_000, 0, 0, 40_000), "2.004"),
    # 7 x 10 + 3 x 50 + 1 x 12.50 + 1 x 20 + 9 x 0.25 = 254.75
    ("claude-fable-5-1", Usage(7, 3, 1, 1, 9), "0.00025475"),
    # 100 x 15 + 100 x 75 + 0 + 0 + 0 = 9,000
    ("claude-opus-4-1", Usage(100, 100), "0.009"),
    ("claude-sonnet-5-5", Usage(), "0"),
])
def test_exact_cost_by_hand(table, model, usage, expected):
    priced = table.price(usage, model, COLLECTED)
    assert priced.cost == D(expected) and isinstance(priced.cost, Decimal)
    assert not priced.unpriced and priced.price_version.endswith(
        f"/{default_catalogue().resolve(model)}@{table.row_for(model, COLLECTED).effective_from}")


@pytest.mark.parametrize(("reads", "output", "expected", "banded"), [
    # prompt = 40,000 input + 30,000 5m + 10,000 1h + reads; output does not count.
    (19_999, 1_000, "0.01044999", False),  # 4,000 + 3,750 + 2,000 + 199.99 + 500
    (20_000, 1_000, "0.01045", False),     # exactly 100,000: not above the threshold
    (20_000, 500_000, "0.25995", False),   # a long answer never moves the prompt into the band
    (20_001, 1_000, "0.05225005", True),   # 20,000 + 18,750 + 10,000 + 1,000.05 + 2,500
])
def test_haiku_55_band_counts_cache_tokens_and_reprices_everything(table, reads, output, expected, banded):
    usage = Usage(input_tokens=40_000, output_tokens=output, cache_creation_5m_tokens=30_000,
                  cache_creation_1h_tokens=10_000, cache_read_tokens=reads)
    row = table.row_for("claude-haiku-5-5", COLLECTED)
    assert cost(usage, row) == D(expected)
    assert (breakdown(usage, row)["output"] == D(output) * D("2.50") / 1_000_000) is banded


def test_batch_is_half_price(table):
    usage = Usage(1234, 567, 2000, 3000, 10_000)
    row = table.row_for("claude-opus-5-5", COLLECTED)
    assert cost(usage, row, batch=True) == D("0.026138")
    assert table.price(usage, "claude-opus-5-5", COLLECTED, batch=True).cost == D("0.026138")
    assert cost(usage, row, batch=True, batch_discount=D("0.25")) == D("0.013069")
    assert sum(breakdown(usage, row, batch=True).values()) == D("0.026138")
    with pytest.raises(TypeError):  # a float fraction would make the cost inexact
        cost(Usage(1, 1), row, batch=True, batch_discount=0.5)


# --- lookup ----------------------------------------------------------------------------

@pytest.mark.parametrize(("alias", "canonical"), [
    ("claude-opus-4-5", "claude-opus-4-5-20251101"),
    ("claude-haiku-4-5", "claude-haiku-4-5-20251001"),
    ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
])
def test_aliases_resolve_through_the_catalogue(table, alias, canonical):
    assert default_catalogue().resolve(alias) == canonical
    assert table.row_for(alias) == table.row_for(canonical) is not None
    assert alias not in table.models()
    assert table.price(Usage(10, 10), alias).price_version == table.row_for(canonical).version


def test_effective_from_selects_the_row_in_force(tmp_path):
    # Later row first in the file: order in the file must not matter.
    body = (ROW.format(model="claude-opus-5-5", eff="2026-06-01", input="2")
            + ROW.format(model="claude-opus-5-5", eff="2026-01-01", input="1"))
    t = PriceTable.load(write_table(tmp_path, body))
    assert t.row_for("claude-opus-5-5", date(2025, 12, 31)) is None
    assert t.row_for("claude-opus-5-5", date(2026, 1, 1)).input == D("1")
    assert t.row_for("claude-opus-5-5", date(2026, 5, 31)).input == D("1")
    assert t.row_for("claude-opus-5-5", date(2026, 6, 1)).input == D("2")
    assert t.row_for("claude-opus-5-5").input == D("2")  # None = the newest row
    # 01:00 at UTC+5 on 1 June is still 31 May in UTC
    east = datetime(2026, 6, 1, 1, 0, tzinfo=timezone(timedelta(hours=5)))
    assert t.row_for("claude-opus-5-5", east).input == D("1")
    assert t.row_for("claude-opus-5-5", datetime(2026, 6, 1, 0, 0, tzinfo=UTC)).input == D("2")
    assert [r.effective_from for r in t.rows("claude-opus-5-5")] == [date(2026, 1, 1), date(2026, 6, 1)]
    assert t.price(Usage(input_tokens=1_000_000), "claude-opus-5-5", date(2026, 3, 1)).cost == D("1")
    assert t.price(Usage(input_tokens=1_000_000), "claude-opus-5-5", date(2026, 7, 1)).cost == D("2")
    early = t.price(Usage(input_tokens=1_000_000), "claude-opus-5-5", date(2025, 7, 1))
    assert early.unpriced and early.price_version is None


def test_unknown_model_is_unpriced_not_free(table):
    priced = table.price(Usage(1000, 1000), "claude-nonexistent-9")
    assert priced == Priced(cost=D("0"), price_version=None, unpriced=True)
    assert table.row_for("claude-nonexistent-9") is None


def test_never_falls_back_to_another_models_price(tmp_path):
    t = PriceTable.load(write_table(tmp_path, ROW.format(model="claude-opus-5-5", eff="2026-01-01",
                                                         input="1")))
    assert t.models() == ["claude-opus-5-5"]
    for other in ("claude-opus-5", "claude-opus-4-5", "simple"):
        assert t.price(Usage(10, 10), other).unpriced


def test_hypothetical_table_reprices_history(tmp_path, table):
    body = ROW.format(model="claude-haiku-4-5-20251001", eff="2025-10-01", input="2")
    what_if = load_hypothetical(write_table(tmp_path, body, version="what-if-1"))
    usage = Usage(input_tokens=1_000_000)
    assert table.price(usage, "claude-haiku-4-5", COLLECTED).cost == D("1")
    priced = what_if.price(usage, "claude-haiku-4-5", COLLECTED)
    assert priced.cost == D("2") and priced.price_version == "what-if-1/claude-haiku-4-5-20251001@2025-10-01"


# --- strict file -----------------------------------------------------------------------

GOOD = ROW.format(model="claude-opus-5-5", eff="2026-01-01", input="1")


@pytest.mark.parametrize(("body", "message"), [
    (GOOD.replace('cache_read = "0.10"\n', ""), "missing field(s) cache_read"),
    (GOOD.replace('input = "1"', 'input = "-1"'), "negative price"),
    (GOOD.replace('input = "1"', 'input = "one"'), "not a decimal"),
    (GOOD.replace('input = "1"', "input = 0.1"), "as a string"),
    (GOOD.replace('input = "1"', 'input = "NaN"'), "not a finite"),
    (GOOD + GOOD, "duplicate (model, effective_from)"),
    (GOOD.replace('source = "test fixture"', 'source = "x"\ncolour = "red"'), "unknown field(s) colour"),
    (GOOD.replace("claude-opus-5-5", "claude-opus-4-5"), "alias of 'claude-opus-4-5-20251101'"),
    (GOOD.replace("2026-01-01", "2026-01-01T00:00:00Z"), "TOML date"),
    (GOOD.replace("2026-01-01", '"2026-01-01"'), "TOML date"),
    (GOOD + '[prices.band]\nthreshold_tokens = 10\ninput = "1"\n', "missing field(s) output"),
    (GOOD + '[prices.band]\nthreshold_tokens = 0\ninput = "1"\noutput = "1"\ncache_write_5m = "1"\n'
     'cache_write_1h = "1"\ncache_read = "1"\n', "positive integer"),
])
def test_strict_file_errors_name_the_row(tmp_path, body, message):
    with pytest.raises(ValueError) as err:
        PriceTable.load(write_table(tmp_path, GOOD.replace("claude-opus-5-5", "claude-opus-5") + body))
    assert message in str(err.value)
    assert "prices[1]" in str(err.value) and "prices.toml" in str(err.value)


@pytest.mark.parametrize(("text", "message"), [
    ('batch_discount = "0.5"\n' + GOOD, "missing field(s) version"),
    ('version = "v"\nbatch_discount = "1.5"\n' + GOOD, "batch_discount must be in (0, 1]"),
    ('version = "v"\nbatch_discount = "0.5"\nvat = "0.2"\n' + GOOD, "unknown field(s) vat"),
    ('version = "v"\nbatch_discount = "0.5"\nprices = []\n', "non-empty"),
    ('version = "v" batch', "not valid TOML"),
])
def test_strict_file_errors_at_table_level(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as err:
        PriceTable.load(path)
    assert message in str(err.value) and "bad.toml" in str(err.value)


def test_band_parsed_from_a_file(tmp_path):
    band = ('[prices.band]\nthreshold_tokens = 1000\ninput = "10"\noutput = "50"\n'
            'cache_write_5m = "12.5"\ncache_write_1h = "20"\ncache_read = "1"\n')
    t = PriceTable.load(write_table(tmp_path, GOOD + band))
    row = t.row_for("claude-opus-5-5")
    assert cost(Usage(input_tokens=1000), row) == D("0.001")  # 1,000 x 1: at the threshold
    assert cost(Usage(input_tokens=1001), row) == D("0.01001")  # 1,001 x 10: above it


# --- worst case --------------------------------------------------------------------------

def test_worst_case_by_hand(table):
    opus = table.row_for("claude-opus-5-5", COLLECTED)
    assert worst_case_cost(opus, 10_000, 1_000) == D("0.06")  # 10,000 x 4 + 1,000 x 20
    assert worst_case_cost(opus, 10_000, 1_000, cache_writes=True) == D("0.1")  # 10,000 x 8 + 20,000
    assert worst_case_cost(opus, 10_000, 1_000, batch=True) == D("0.03")
    haiku = table.row_for("claude-haiku-5-5", COLLECTED)
    assert worst_case_cost(haiku, 100_000, 2_000) == D("0.011")  # 100,000 x 0.10 + 2,000 x 0.50
    assert worst_case_cost(haiku, 150_000, 2_000, cache_writes=True) == D("0.155")  # x 1.00 + x 2.50


def test_worst_case_never_below_cost(table):
    rng = random.Random(20261122)
    for row in table.rows():
        for _ in range(60):
            prompt = rng.choice([rng.randint(0, 5_000), rng.randint(90_000, 110_000),
                                 rng.randint(0, 1_000_000)])
            max_tokens = rng.randint(0, 128_000)
            cache_writes = rng.random() < 0.5
            cuts = sorted(rng.randint(0, rng.randint(0, prompt)) for _ in range(3))
            w5, w1 = (cuts[1] - cuts[0], cuts[2] - cuts[1]) if cache_writes else (0, 0)
            usage = Usage(input_tokens=cuts[0], output_tokens=rng.randint(0, max_tokens),
                          cache_creation_5m_tokens=w5, cache_creation_1h_tokens=w1,
                          cache_read_tokens=rng.randint(0, prompt - cuts[0] - w5 - w1))
            assert usage.prompt_tokens <= prompt
            for batch in (False, True):
                worst = worst_case_cost(row, prompt, max_tokens, cache_writes=cache_writes, batch=batch)
                assert isinstance(worst, Decimal)
                assert worst >= cost(usage, row, batch=batch), (row.model, usage, prompt, max_tokens)


def test_table_methods_use_the_table_batch_fraction(tmp_path):
    t = PriceTable.load(write_table(tmp_path, GOOD, discount='"0.25"'))
    row = t.row_for("claude-opus-5-5")
    # 1,000 x 1 + 100 x 5 = 1,500, at a quarter for batch
    assert t.worst_case_cost(row, 1_000, 100) == D("0.0015")
    assert t.worst_case_cost(row, 1_000, 100, batch=True) == D("0.000375")
    assert t.price(Usage(1_000, 100), "claude-opus-5-5", batch=True).cost == D("0.000375")
    assert sum(t.breakdown(Usage(1_000, 100), row, batch=True).values()) == D("0.000375")
