"""The price and model files on pydantic: each refusal is one DataFileError naming the file and the field."""

from pathlib import Path

import pytest

from core.catalog.models import DEFAULT_CATALOGUE, load_catalogue
from core.catalog.pricing import DEFAULT_PRICES, PriceTable
from core.errors import ConfigError, DataFileError

PRICES = Path(DEFAULT_PRICES).read_text(encoding="utf-8")
MODELS = Path(DEFAULT_CATALOGUE).read_text(encoding="utf-8")
FIRST_ROW = "prices[0] (claude-fable-5-1 @ 2026-09-01)"


def _load_prices(tmp_path, text):
    path = tmp_path / "pricing.toml"
    path.write_text(text, encoding="utf-8")
    return PriceTable.load(path), path


def _load_models(tmp_path, text):
    path = tmp_path / "models.toml"
    path.write_text(text, encoding="utf-8")
    return load_catalogue(path), path


def test_shipped_files_load_unchanged():
    table, cat = PriceTable.load(), load_catalogue()
    assert table.version == "2026-12-02" and len(table.rows()) >= 10
    assert cat.get("simple").id == "claude-haiku-5-5" and cat.models["claude-opus-5-5"].max_output_tokens == 128000


@pytest.mark.parametrize(("old", "new", "field", "message"), [
    ('input = "10"', "input = 10.0", f"{FIRST_ROW}.input", "expected a decimal string, got 10.0"),
    ('input = "10"', "input = 3.0", f"{FIRST_ROW}.input", "so it stays exact"),
    ('input = "10"', 'input = "10"\ncolour = "red"', FIRST_ROW, "unknown field(s) colour"),
    ('cache_read = "0.25"\n', "", FIRST_ROW, "missing field(s) cache_read"),
    ('source = "Anthropic', 'source = 3 # ', f"{FIRST_ROW}.source", "expected a non-empty string, got 3"),
    ("threshold_tokens = 100000", 'threshold_tokens = "100000"',
     "prices[3] (claude-haiku-5-5 @ 2026-10-07).band.threshold_tokens", "positive integer"),
    ('batch_discount = "0.5"', "batch_discount = 0.5", "batch_discount", "expected a decimal string"),
    ('version = "2026-12-02"', 'version = "2026-12-02"\nvat = "0.2"', "", "unknown field(s) vat"),
])
def test_price_file_refusals_name_file_and_field(tmp_path, old, new, field, message):
    assert old in PRICES
    text = PRICES.replace(old, new, 1)
    with pytest.raises(DataFileError) as err:
        _load_prices(tmp_path, text)
    path = str(tmp_path / "pricing.toml")
    expected_prefix = f"{path}: {field}: " if field else f"{path}: "
    assert str(err.value).startswith(expected_prefix) and message in str(err.value)
    assert err.value.path == path and err.value.field == field and err.value.code == "data_file_error"
    assert isinstance(err.value, ConfigError) and "\n" not in str(err.value)


@pytest.mark.parametrize(("new", "exact"), [('input = "3.00"', "3.00"), ("input = 3", "3")])
def test_decimal_strings_and_integers_are_accepted_exactly(tmp_path, new, exact):
    table, _ = _load_prices(tmp_path, PRICES.replace('input = "10"', new, 1))
    assert str(table.row_for("claude-fable-5-1").input) == exact


@pytest.mark.parametrize(("old", "new", "field", "message"), [
    ("context_window = 1000000", "context_window = 1000000.0", "models.claude-fable-5-1.context_window",
     "positive integer"),
    ("context_window = 1000000", 'context_window = "1000000"', "models.claude-fable-5-1.context_window",
     "positive integer"),
    ('family = "fable"', 'family = "fable"\nprice = "1"', "models.claude-fable-5-1", "unknown field(s) price"),
    ('max_output_tokens = 128000\n', "", "models.claude-fable-5-1", "missing field(s) max_output_tokens"),
    ('tokenizer = "v2"', 'tokenizer = "v3"', "models.claude-fable-5-1.tokenizer", "'v1' or 'v2'"),
    ('status = "current"', 'status = "gone"', "models.claude-fable-5-1.status", "got 'gone'"),
    ('simple = "claude-haiku-5-5"', "simple = 5", "tiers.simple", "expected a non-empty string"),
    ("[tiers]", "[extras]\nx = 1\n[tiers]", "", "unknown field(s) extras"),
])
def test_model_file_refusals_name_file_and_field(tmp_path, old, new, field, message):
    assert old in MODELS
    with pytest.raises(DataFileError) as err:
        _load_models(tmp_path, MODELS.replace(old, new, 1))
    path = str(tmp_path / "models.toml")
    expected_prefix = f"{path}: {field}: " if field else f"{path}: "
    assert str(err.value).startswith(expected_prefix) and message in str(err.value), str(err.value)
    assert err.value.field == field and "\n" not in str(err.value)


def test_model_file_not_toml_names_the_file(tmp_path):
    with pytest.raises(DataFileError, match=r"models\.toml: not valid TOML"):
        _load_models(tmp_path, MODELS + "\n[[[")
