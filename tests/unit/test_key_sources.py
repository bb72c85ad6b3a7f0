"""Where keys come from: env, labelled env keys, key files, st.secrets, AWS (faked at the client)."""

from __future__ import annotations

import json
import logging

import pytest

from core.errors import NotConfigured
from core.upstream.keys import KeyRing, load_keys

OLD = "sk-ant-test-fake-0000"
NEW = "sk-ant-test-fake-1111"
THIRD = "sk-ant-test-fake-2222"


# --- sources: env -----------------------------------------------------------------------------

def secrets_of(keys):
    return [(k.label, k.secret, k.source) for k in keys]


def test_nothing_configured_means_no_keys():
    assert load_keys(env={"HOME": "/root"}) == []


def test_env_primary_and_labelled_keys():
    env = {"ANTHROPIC_API_KEY_ZETA": THIRD, "ANTHROPIC_API_KEY": f"{OLD}\n",
           "ANTHROPIC_API_KEY_Backup": NEW, "OTHER": "x"}
    assert secrets_of(load_keys(env=env)) == [
        ("primary", OLD, "env"), ("backup", NEW, "env"), ("zeta", THIRD, "env")]


def test_the_key_file_variable_is_not_a_labelled_key(tmp_path):
    missing = tmp_path / "absent"
    with pytest.raises(NotConfigured) as err:
        load_keys(env={"ANTHROPIC_API_KEY_FILE": str(missing)})
    assert "absent" in err.value.message  # read as a file, not taken as a key labelled 'file'


@pytest.mark.parametrize("value", ["", "  \n"])
def test_blank_env_values_mean_unset(value):
    assert load_keys(env={"ANTHROPIC_API_KEY": value, "ANTHROPIC_API_KEY_SPARE": value}) == []


@pytest.mark.parametrize("value, words", [("sk-ant-test fake-0000", "whitespace"),
                                          ("sk-ant-test-fake-\n0000", "line break")])
def test_bad_env_values_name_the_variable_never_the_value(value, words):
    with pytest.raises(NotConfigured) as err:
        load_keys(env={"ANTHROPIC_API_KEY_SPARE": value})
    assert "ANTHROPIC_API_KEY_SPARE" in err.value.message and words in err.value.message
    assert "fake" not in err.value.message and "0000" not in err.value.message


def test_bad_label_is_refused():
    with pytest.raises(NotConfigured, match="label"):
        load_keys(env={"ANTHROPIC_API_KEY_": OLD})
    with pytest.raises(NotConfigured, match="label"):
        load_keys(env={"ANTHROPIC_API_KEY_A B": OLD})


# --- sources: file ----------------------------------------------------------------------------

def test_file_with_one_key(tmp_path):
    path = tmp_path / "anthropic_key"
    path.write_text(f"  {OLD}\n\n")
    keys = load_keys(env={"ANTHROPIC_API_KEY_FILE": str(path)})
    assert secrets_of(keys) == [("primary", OLD, "file")]


def test_file_with_labelled_lines(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# rotation in progress\nOld = {OLD}\n\nnew={NEW}\n")
    keys = load_keys(env={"ANTHROPIC_API_KEY_FILE": str(path)})
    assert secrets_of(keys) == [("old", OLD, "file"), ("new", NEW, "file")]


def test_unreadable_file_names_the_path_not_the_content(tmp_path):
    with pytest.raises(NotConfigured) as err:
        load_keys(env={"ANTHROPIC_API_KEY_FILE": str(tmp_path)})  # a directory
    assert str(tmp_path) in err.value.message and "Cannot read" in err.value.message
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe" + OLD.encode())
    with pytest.raises(NotConfigured) as err:
        load_keys(env={"ANTHROPIC_API_KEY_FILE": str(binary)})
    assert "binary" in err.value.message and "fake" not in err.value.message


def test_malformed_files_never_quote_their_lines(tmp_path):
    two = tmp_path / "two"
    two.write_text(f"{OLD}\n{NEW}\n")  # two bare keys: one 'key' with a line break
    with pytest.raises(NotConfigured) as err:
        load_keys(env={"ANTHROPIC_API_KEY_FILE": str(two)})
    assert "line break" in err.value.message and "fake" not in err.value.message
    mixed = tmp_path / "mixed"
    mixed.write_text(f"old={OLD}\n{NEW}\n")
    with pytest.raises(NotConfigured) as err:
        load_keys(env={"ANTHROPIC_API_KEY_FILE": str(mixed)})
    assert "line 2" in err.value.message and "fake" not in err.value.message


# --- sources: st.secrets ----------------------------------------------------------------------

@pytest.mark.parametrize("secrets, expected", [
    ({"ANTHROPIC_API_KEY": OLD}, [("primary", OLD)]),
    ({"anthropic": {"api_key": OLD}}, [("primary", OLD)]),
    ({"anthropic": {"keys": {"Old": OLD, "new": NEW}}}, [("old", OLD), ("new", NEW)]),
    ({"ANTHROPIC_API_KEY": OLD, "anthropic": {"api_key": NEW, "keys": {"third": THIRD}}},
     [("primary", OLD), ("primary@st.secrets", NEW), ("third", THIRD)]),
])
def test_streamlit_secrets_shapes(secrets, expected):
    keys = load_keys(env={}, secrets=secrets)
    assert [(k.label, k.secret) for k in keys] == expected
    assert {k.source for k in keys} == {"st.secrets"}


def test_secrets_that_raise_on_access_count_as_none():
    class NoSecretsFile(dict):  # st.secrets without a secrets.toml raises on access
        def __iter__(self):
            raise FileNotFoundError("no secrets.toml")

    assert secrets_of(load_keys(env={"ANTHROPIC_API_KEY": OLD}, secrets=NoSecretsFile())) == [
        ("primary", OLD, "env")]


def test_non_string_secret_is_refused_without_the_value():
    with pytest.raises(NotConfigured, match="must be a string"):
        load_keys(env={}, secrets={"anthropic": {"keys": {"n": 1234567890}}})
    with pytest.raises(NotConfigured, match="table"):
        load_keys(env={}, secrets={"anthropic": {"keys": OLD}})


# --- precedence, dedupe, AWS through a fake client -------------------------------------------

class FakeSecretsManager:
    """Stands in for boto3's client at the boundary: get_secret_value only."""

    def __init__(self, secret_string=None, error_code=None):
        self.secret_string, self.error_code, self.calls = secret_string, error_code, []

    def get_secret_value(self, SecretId):  # noqa: N803 - boto3's spelling
        self.calls.append(SecretId)
        if self.error_code:
            exc = RuntimeError(f"boom {OLD}")
            exc.response = {"Error": {"Code": self.error_code, "Message": f"value {OLD}"}}
            raise exc
        return {"Name": SecretId, "SecretString": self.secret_string}


def test_precedence_secrets_env_file_aws_and_dedupe(tmp_path):
    path = tmp_path / "key"
    path.write_text(NEW)  # same secret as the env's labelled key: kept once, from env
    fourth = "sk-ant-test-fake-3333"
    aws = FakeSecretsManager(json.dumps({"rotated": fourth, "dup": OLD}))
    env = {"ANTHROPIC_API_KEY": THIRD, "ANTHROPIC_API_KEY_NEXT": NEW,
           "ANTHROPIC_API_KEY_FILE": str(path), "TOLLGATE_AWS_SECRET_ID": "tollgate/keys"}
    keys = load_keys(env=env, secrets={"ANTHROPIC_API_KEY": OLD}, aws=aws)
    assert secrets_of(keys) == [("primary", OLD, "st.secrets"), ("primary@env", THIRD, "env"),
                                ("next", NEW, "env"), ("rotated", fourth, "aws")]
    assert aws.calls == ["tollgate/keys"]
    KeyRing(keys)  # labels are unique, so the ring accepts them


@pytest.mark.parametrize("secret_string, expected", [
    (f"{OLD}\n", [("primary", OLD)]),
    (json.dumps({"ANTHROPIC_API_KEY": OLD}), [("primary", OLD)]),
    (json.dumps({"old": OLD, "NEW": NEW}), [("old", OLD), ("new", NEW)]),
])
def test_aws_secret_shapes(secret_string, expected):
    aws = FakeSecretsManager(secret_string)
    keys = load_keys(env={"TOLLGATE_AWS_SECRET_ID": "s"}, aws=aws)
    assert [(k.label, k.secret) for k in keys] == expected


def test_aws_is_not_consulted_unless_configured():
    aws = FakeSecretsManager(OLD)
    assert load_keys(env={"TOLLGATE_AWS_REGION": "eu-west-1"}, aws=aws) == []
    assert aws.calls == []
    assert len(load_keys(env={}, secrets={"TOLLGATE_AWS_SECRET_ID": "from-secrets"}, aws=aws)) == 1
    assert aws.calls == ["from-secrets"]


@pytest.mark.parametrize("aws, words", [
    (FakeSecretsManager(error_code="ResourceNotFoundException"), "ResourceNotFoundException"),
    (FakeSecretsManager("{" + OLD), "does not parse"),
    (FakeSecretsManager(json.dumps([OLD])), "JSON object"),
    (FakeSecretsManager(json.dumps({"x": [OLD]})), "must be a string"),
    (FakeSecretsManager(None), "SecretString"),
])
def test_aws_errors_are_clear_and_never_quote_the_secret(aws, words):
    with pytest.raises(NotConfigured) as err:
        load_keys(env={"TOLLGATE_AWS_SECRET_ID": "prod/tollgate", "TOLLGATE_AWS_REGION": "eu-west-1"},
                  aws=aws)
    message = err.value.message
    assert words in message and "'prod/tollgate'" in message and "eu-west-1" in message
    assert "fake" not in message and OLD not in str(err.value)


def test_loading_logs_labels_and_masks_only(caplog):
    with caplog.at_level(logging.DEBUG, logger="tollgate.keys"):
        keys = load_keys(env={"ANTHROPIC_API_KEY": OLD, "ANTHROPIC_API_KEY_DUP": OLD,
                              "ANTHROPIC_API_KEY_NEW": NEW})
    assert [k.label for k in keys] == ["primary", "new"]
    assert "Loaded 2 API key(s)" in caplog.text and "sk-ant-…1111" in caplog.text
    assert OLD not in caplog.text and NEW not in caplog.text
