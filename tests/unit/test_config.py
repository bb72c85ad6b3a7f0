"""Settings: built once, explicit > st.secrets > env > .env > default, every variable documented."""

from dataclasses import FrozenInstanceError

import pytest

from core.config import Settings, fields, load_settings
from core.config_docs import documented


def test_defaults_without_anything(tmp_path):
    s = load_settings(env={}, dotenv_path=tmp_path / "none.env")
    assert s.timeout_s == 60.0 and s.demo and s.keys == () and s.cache == "memory"


def test_precedence(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("TOLLGATE_TIMEOUT_S=11\nTOLLGATE_RPM=100\nTOLLGATE_MAX_ATTEMPTS=7\nTOLLGATE_CACHE=off\n")
    env = {"TOLLGATE_RPM": "200", "TOLLGATE_MAX_ATTEMPTS": "8", "TOLLGATE_CACHE": "redis"}
    secrets = {"TOLLGATE_MAX_ATTEMPTS": "9", "TOLLGATE_CACHE": "sql"}
    s = load_settings(env=env, secrets=secrets, dotenv_path=dotenv, cache="memory")
    assert s.timeout_s == 11.0  # only .env sets it
    assert s.rpm == 200  # env beats .env
    assert s.max_attempts == 9  # st.secrets beats env
    assert s.cache == "memory"  # explicit beats everything


def test_bad_value_names_the_variable(tmp_path):
    with pytest.raises(ValueError, match="TOLLGATE_TIMEOUT_S"):
        load_settings(env={"TOLLGATE_TIMEOUT_S": "soon"}, dotenv_path=tmp_path / "x")
    with pytest.raises(ValueError, match="TOLLGATE_INJECTION_MODE"):
        load_settings(env={"TOLLGATE_INJECTION_MODE": "maybe"}, dotenv_path=tmp_path / "x")
    with pytest.raises(ValueError, match="TOLLGATE_STORE_PROMPTS"):
        load_settings(env={"TOLLGATE_STORE_PROMPTS": "perhaps"}, dotenv_path=tmp_path / "x")


def test_settings_are_frozen_and_never_show_keys(tmp_path):
    s = load_settings(env={"ANTHROPIC_API_KEY": "sk-ant-test-fake-frozen-9999"}, dotenv_path=tmp_path / "x")
    assert not s.demo and len(s.keys) == 1
    assert "frozen-9999" not in repr(s)
    with pytest.raises(FrozenInstanceError):
        s.timeout_s = 1


def test_ledger_can_be_turned_off(tmp_path):
    assert load_settings(env={"TOLLGATE_LEDGER_URL": "off"}, dotenv_path=tmp_path / "x").ledger_url is None


def test_every_setting_is_documented():
    names = [n for n, _, _ in documented()]
    declared = [f.metadata["env"] for f in fields(Settings) if "env" in f.metadata]
    assert set(declared) <= set(names) and all(doc for _, _, doc in documented())
    readme = (__import__("pathlib").Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [n for n in names if f"`{n}`" not in readme]
    assert not missing, f"README lacks {missing}"


@pytest.mark.parametrize("env", ["TOLLGATE_TIMEOUT_S", "TOLLGATE_STREAM_IDLE_TIMEOUT_S", "TOLLGATE_STREAM_TIMEOUT_S"])
def test_timeouts_must_be_positive(env, tmp_path):
    with pytest.raises(ValueError, match=env):
        load_settings(env={env: "-1"}, load_keys=False, dotenv_path=tmp_path / "none.env")


def test_stream_timeouts_are_unset_by_default_and_off_means_unset(tmp_path):
    none = tmp_path / "none.env"
    s = load_settings(env={"TOLLGATE_STREAM_TIMEOUT_S": "off", "TOLLGATE_STREAM_IDLE_TIMEOUT_S": "12.5"},
                      load_keys=False, dotenv_path=none)
    assert s.stream_timeout_s is None and s.stream_idle_timeout_s == 12.5
    assert load_settings(env={}, load_keys=False, dotenv_path=none).stream_idle_timeout_s is None
