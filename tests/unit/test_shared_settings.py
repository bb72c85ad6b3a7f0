"""The shared-state settings are checked when built, and the open mode's per-process share of each limit."""

from __future__ import annotations

import pytest

from core.config import load_settings
from core.errors import ConfigError, SharedStateUnavailable
from core.guards.failover import divided, shared_for
from core.guards.limits import LimitSpec
from core.guards.shared import SharedState


@pytest.mark.parametrize(("env", "variable"), [
    ({"TOLLGATE_LIMITS": "etcd"}, "TOLLGATE_LIMITS"),
    ({"TOLLGATE_SHARED_STATE_FAILURE": "maybe"}, "TOLLGATE_SHARED_STATE_FAILURE"),
    ({"TOLLGATE_REPLICAS": "0"}, "TOLLGATE_REPLICAS"),
    ({"TOLLGATE_LEASE_S": "0"}, "TOLLGATE_LEASE_S"),
    ({"TOLLGATE_LIMITS": "redis", "TOLLGATE_REDIS_URL": "http://user:hunter2@host/0"}, "TOLLGATE_REDIS_URL"),
])
def test_a_bad_shared_setting_is_one_config_error_naming_it(env, variable):
    with pytest.raises(ConfigError) as exc:
        load_settings(env=env, load_keys=False)
    assert exc.value.variable == variable and "hunter2" not in exc.value.message


def test_memory_is_the_default_and_builds_no_shared_state():
    settings = load_settings(env={}, load_keys=False)
    assert (settings.limits, settings.shared_state_failure, settings.replicas) == ("memory", "closed", 1)
    assert shared_for(settings) is None


def test_each_of_n_replicas_keeps_a_nth_of_every_limit():
    share = divided(LimitSpec(rpm=30, input_tpm=90_000, output_tpm=None, concurrency=8), 3)
    assert (share.rpm, share.input_tpm, share.output_tpm, share.concurrency) == (10, 30_000, None, 2)
    tiny = divided(LimitSpec(rpm=2, concurrency=2), 3)
    assert (tiny.rpm, tiny.concurrency) == (1, 1)  # never 0: each replica may still make a call


def test_an_unreachable_redis_refuses_in_closed_mode_and_serves_locally_in_open_mode():
    now = [0.0]
    closed = SharedState("redis://127.0.0.1:18798/0", failure="closed", socket_timeout_s=0.2,
                         monotonic=lambda: now[0])
    with pytest.raises(SharedStateUnavailable) as exc:
        closed.run("rate limits", lambda r: r.ping(), lambda: "local")
    assert exc.value.retryable and exc.value.code == "shared_state_unavailable"
    assert closed.degraded().keys() == {"rate limits"} and not closed.usable()
    now[0] = 2.0
    assert closed.usable()  # tried again once the pause is over
    opened = SharedState("redis://127.0.0.1:18798/0", failure="open", socket_timeout_s=0.2)
    assert opened.run("rate limits", lambda r: r.ping(), lambda: "local") == "local"
    with pytest.raises(SharedStateUnavailable):  # a part with no local answer is refused in either mode
        opened.run("rate limits", lambda r: r.ping(), None)


def test_a_bug_in_the_callers_code_is_not_taken_for_an_outage():
    state = SharedState("redis://127.0.0.1:18798/0", failure="open")
    with pytest.raises(ZeroDivisionError):
        state.run("rate limits", lambda r: 1 / 0, lambda: "local")
    assert state.degraded() == {}
