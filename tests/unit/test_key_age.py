"""Key age: TOLLGATE_KEY_CREATED dates keys by label; an AWS secret's CreatedDate dates its keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.errors import NotConfigured
from core.upstream.key_sources import created_dates
from core.upstream.keys import load_keys

OLD, NEW = "sk-ant-test-fake-0000", "sk-ant-test-fake-1111"


def test_a_bare_date_is_the_primary_keys():
    assert created_dates({"TOLLGATE_KEY_CREATED": "2026-09-01"}) == {"primary": datetime(2026, 9, 1, tzinfo=UTC)}


def test_labelled_dates_and_st_secrets_over_env():
    env = {"TOLLGATE_KEY_CREATED": "primary=2026-01-01"}
    got = created_dates(env, {"TOLLGATE_KEY_CREATED": "Primary=2026-09-01, next=2026-10-15"})
    assert got == {"primary": datetime(2026, 9, 1, tzinfo=UTC), "next": datetime(2026, 10, 15, tzinfo=UTC)}


@pytest.mark.parametrize("raw", ["2026-13-01", "next=yesterday", "bad label!=2026-01-01"])
def test_a_bad_date_names_the_variable(raw):
    with pytest.raises(NotConfigured, match="TOLLGATE_KEY_CREATED"):
        created_dates({"TOLLGATE_KEY_CREATED": raw})


def test_load_keys_dates_the_keys_it_loads():
    keys = load_keys(env={"ANTHROPIC_API_KEY": OLD, "ANTHROPIC_API_KEY_NEXT": NEW,
                          "TOLLGATE_KEY_CREATED": "next=2026-10-15"})
    assert [(k.label, k.created) for k in keys] == [("primary", None),
                                                    ("next", datetime(2026, 10, 15, tzinfo=UTC))]
    assert NEW not in repr(keys[1])  # the new field does not change what repr shows


class SecretsManager:
    """boto3's get_secret_value at the boundary, with the CreatedDate of the secret's version."""

    def __init__(self, text, created):
        self.text, self.created = text, created

    def get_secret_value(self, SecretId):  # noqa: N803 - boto3's spelling
        return {"Name": SecretId, "SecretString": self.text, "CreatedDate": self.created}


def test_an_aws_secret_dates_its_keys_unless_the_variable_says_otherwise():
    stored = datetime(2026, 7, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    aws = SecretsManager(json.dumps({"old": OLD, "new": NEW}), stored)
    keys = load_keys(env={"TOLLGATE_AWS_SECRET_ID": "s", "TOLLGATE_KEY_CREATED": "new=2026-11-01"}, aws=aws)
    got = {k.label: k.created for k in keys}
    assert got == {"old": datetime(2026, 7, 1, 7, 30, tzinfo=UTC), "new": datetime(2026, 11, 1, tzinfo=UTC)}
