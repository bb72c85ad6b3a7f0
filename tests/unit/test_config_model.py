"""Settings as a pydantic-settings model: sources in order, secrets as SecretStr, checked on construction."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from core.config import Settings, fields, load_settings, replace, reveal
from core.errors import ConfigError

COOKIE = "sk-ant-test-fake-cookie-key-0000000000000000"
TOKEN = "sk-ant-test-fake-metrics-token-0000"
DSN = "https://fakepublickey0000@o0.ingest.example.invalid/1"
HOOK = "https://hooks.example.invalid/fake-secret-path-0000"
JWT = "test-fake-jwt-shared-secret-000000000000"
GATEWAY_KEY = "sk-tg-000000000000_test-fake-gateway-key-000000000000000"
SECRETS = {"TOLLGATE_COOKIE_KEY": COOKIE, "TOLLGATE_METRICS_TOKEN": TOKEN, "SENTRY_DSN": DSN,
           "TOLLGATE_BUDGET_WEBHOOK_URL": HOOK, "TOLLGATE_JWT_SECRET": JWT, "TOLLGATE_GATEWAY_KEY": GATEWAY_KEY}


def test_every_secret_is_a_secretstr_never_shown(tmp_path):
    s = load_settings(env=SECRETS, dotenv_path=tmp_path / "none.env", load_keys=False)
    for name, value in (("cookie_key", COOKIE), ("metrics_token", TOKEN), ("sentry_dsn", DSN),
                        ("budget_webhook_url", HOOK), ("jwt_secret", JWT), ("gateway_key", GATEWAY_KEY)):
        assert isinstance(getattr(s, name), SecretStr) and reveal(getattr(s, name)) == value
    shown = repr(s) + str(s) + s.model_dump_json()
    assert not any(secret in shown for secret in SECRETS.values())
    secret_vars = {f.metadata["env"] for f in fields() if f.metadata.get("secret")}
    assert secret_vars == set(SECRETS)


def test_sources_in_order_explicit_secrets_env_dotenv(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("TOLLGATE_RPM=1\nTOLLGATE_USER_RPM=2\nTOLLGATE_INPUT_TPM=3\nTOLLGATE_OUTPUT_TPM=4\n")
    env = {"TOLLGATE_USER_RPM": "20", "TOLLGATE_INPUT_TPM": "30", "TOLLGATE_OUTPUT_TPM": "40"}
    secrets = {"TOLLGATE_INPUT_TPM": 300, "TOLLGATE_OUTPUT_TPM": "400"}
    s = load_settings(env=env, secrets=secrets, dotenv_path=dotenv, load_keys=False, output_tpm=4000)
    assert (s.rpm, s.user_rpm, s.input_tpm, s.output_tpm) == (1, 20, 300, 4000)


def test_a_directly_built_settings_is_checked_and_never_echoes_a_secret():
    with pytest.raises(ConfigError, match="TOLLGATE_TIMEOUT_S must be a finite number > 0, got 0") as err:
        Settings(timeout_s=0, cookie_key=COOKIE)
    assert COOKIE not in str(err.value)
    with pytest.raises(ConfigError, match="TOLLGATE_ENVIRONMENT") as err:
        Settings(environment=3, cookie_key=COOKIE)
    assert COOKIE not in str(err.value)
    with pytest.raises(ConfigError, match="TOLLGATE_RPM"):
        replace(Settings(), rpm=0)


def test_a_direct_settings_reads_no_environment(monkeypatch):
    monkeypatch.setenv("TOLLGATE_TIMEOUT_S", "7")
    assert Settings().timeout_s == 60.0  # only load_settings gathers sources: the defaults stay the defaults
    assert load_settings(load_keys=False).timeout_s == 7.0


def test_unknown_arguments_are_refused():
    with pytest.raises(TypeError, match="bogus"):
        load_settings(load_keys=False, bogus=1)
