"""Settings are checked when built: every unusable value is a ConfigError naming its variable, in one line."""

from __future__ import annotations

import pytest

from core.config import load_settings
from core.errors import ConfigError, TollgateError


def settings(tmp_path, **env):
    return load_settings(env=env, dotenv_path=tmp_path / "none.env", load_keys=False)


BAD = [
    ("TOLLGATE_LEDGER_URL", "garbage", "must be a database URL"),
    ("TOLLGATE_LEDGER_URL", "mysql://tollgate@db.example/ledger", "'mysql', which the ledger does not support"),
    ("TOLLGATE_LEDGER_URL", "sqlite:///ledger.db", "'sqlite', which the ledger does not support"),
    ("TOLLGATE_LEDGER_URL", "postgresql+nodriver://db/ledger", "driver 'nodriver'"),
    ("TOLLGATE_ESTIMATE_MARGIN", "NaN", "must be a finite number ≥ 1"),
    ("TOLLGATE_ESTIMATE_MARGIN", "Infinity", "must be a finite number ≥ 1"),
    ("TOLLGATE_ESTIMATE_MARGIN", "0.5", "must be a finite number ≥ 1"),
    ("TOLLGATE_PRICING_FILE", "/nonexistent/pricing.toml", "must name a file that exists"),
    ("TOLLGATE_BUDGET_FILE", "/nonexistent/budgets.toml", "must name a file that exists"),
    ("TOLLGATE_BACKOFF_BASE_S", "-1", "must be a finite number ≥ 0"),
    ("TOLLGATE_BACKOFF_CAP_S", "nan", "must be a finite number ≥ 0"),
    ("TOLLGATE_TIMEOUT_S", "0", "must be a finite number > 0"),
    ("TOLLGATE_TIMEOUT_S", "inf", "must be a finite number > 0"),
    ("TOLLGATE_CONNECT_TIMEOUT_S", "-3", "must be a finite number > 0"),
    ("TOLLGATE_CACHE_TTL_S", "0", "must be a finite number > 0"),
    ("TOLLGATE_USER_RPM", "0", "must be a whole number ≥ 1, or empty for no limit"),
    ("TOLLGATE_RPM", "-5", "must be a whole number ≥ 1, or empty for no limit"),
    ("TOLLGATE_CONCURRENCY", "0", "must be a whole number ≥ 1, or empty for no limit"),
    ("TOLLGATE_MAX_ATTEMPTS", "0", "must be a whole number ≥ 1"),
    ("TOLLGATE_LOG_FILE_BACKUPS", "0", "must be a whole number ≥ 1"),
    ("TOLLGATE_BUDGET_THRESHOLDS", "50,-80", "whole percentages ≥ 1"),
    ("TOLLGATE_BUDGET_TZ", "Mars/Olympus_Mons", "IANA time zone"),
    ("TOLLGATE_LOG_LEVEL", "loud", "logging level"),
    ("TOLLGATE_CACHE_SCOPE", "team", "must be one of user, shared"),
    ("TOLLGATE_TIMEOUT_S", "soon", "must be a number, got 'soon'"),
    ("TOLLGATE_USER_RPM", "lots", "must be a whole number ≥ 1, or empty for no limit, got 'lots'"),
]


@pytest.mark.parametrize(("variable", "raw", "rule"), BAD, ids=[f"{v}={r}" for v, r, _ in BAD])
def test_a_bad_setting_is_refused_when_built_naming_the_variable(tmp_path, variable, raw, rule):
    with pytest.raises(ConfigError) as exc:
        settings(tmp_path, **{variable: raw})
    err = exc.value
    assert isinstance(err, TollgateError) and isinstance(err, ValueError)  # old `except ValueError` still works
    assert err.variable == variable and err.code == "config_error" and not err.retryable
    assert err.message.startswith(variable) and rule in err.message and "\n" not in err.message


def test_the_message_quotes_the_value_but_never_a_database_password(tmp_path):
    with pytest.raises(ConfigError) as exc:
        settings(tmp_path, TOLLGATE_ESTIMATE_MARGIN="NaN")
    assert exc.value.message == ("TOLLGATE_ESTIMATE_MARGIN must be a finite number ≥ 1 (it only ever adds "
                                 "headroom), got 'NaN'")
    for url in ("mysql://admin:hunter2-fake@db/ledger", "postgresql+nodriver://admin:hunter2-fake@db/l", "x:hunter2"):
        with pytest.raises(ConfigError) as exc:
            settings(tmp_path, TOLLGATE_LEDGER_URL=url)
        assert "hunter2" not in exc.value.message
    with pytest.raises(ConfigError) as exc:
        settings(tmp_path, TOLLGATE_CACHE="redis", TOLLGATE_REDIS_URL="http://:hunter2-fake@cache")
    assert exc.value.variable == "TOLLGATE_REDIS_URL" and "hunter2" not in exc.value.message


def test_explicit_arguments_are_checked_too(tmp_path):
    with pytest.raises(ConfigError, match="TOLLGATE_TIMEOUT_S must be a finite number > 0, got 0"):
        load_settings(env={}, dotenv_path=tmp_path / "x", load_keys=False, timeout_s=0)


@pytest.mark.parametrize("raw", ["", "none", "None"])
def test_an_empty_limit_means_no_limit(tmp_path, raw):
    assert settings(tmp_path, TOLLGATE_USER_RPM=raw).user_rpm is None


def test_good_values_still_load(tmp_path):
    budgets = tmp_path / "budgets.toml"
    budgets.write_text("")
    s = settings(tmp_path, TOLLGATE_USER_RPM="30", TOLLGATE_BACKOFF_BASE_S="0", TOLLGATE_ESTIMATE_MARGIN="1",
                 TOLLGATE_LEDGER_URL="postgresql+psycopg://u@127.0.0.1:5432/test", TOLLGATE_BUDGET_FILE=str(budgets),
                 TOLLGATE_BUDGET_TZ="Europe/Paris", TOLLGATE_LOG_LEVEL="debug", TOLLGATE_CACHE_SCOPE="shared")
    assert (s.user_rpm, s.backoff_base_s, s.cache_scope) == (30, 0.0, "shared")
    assert settings(tmp_path, TOLLGATE_LEDGER_URL="duckdb:///:memory:").ledger_url == "duckdb:///:memory:"
    assert settings(tmp_path).cache_scope == "user"  # scoped to the user unless shared on purpose
