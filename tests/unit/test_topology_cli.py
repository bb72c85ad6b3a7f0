"""deploy/topology.py refuses bad arguments with one line and exit 2, before it starts or creates anything."""

from __future__ import annotations

import pytest

from deploy import topology


@pytest.mark.parametrize(("argv", "said"), [
    (["--replicas", "0"], "--replicas must be 1 to 50"),
    (["--replicas", "51"], "--replicas must be 1 to 50"),
    (["--set", "TOLLGATE_USER_RPM"], "--set takes VAR=VALUE, not 'TOLLGATE_USER_RPM'"),
])
def test_bad_arguments_get_one_line_and_nothing_is_started(argv, said, capsys):
    assert topology.main(argv) == 2
    assert capsys.readouterr().err.strip() == said


def test_replica_environment_holds_only_the_topology_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("TOLLGATE_USER_RPM", "1")  # the shell's settings never leak into a replica
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-fake-shell-0000")
    topo = topology.Topology(ledger_url="postgresql+psycopg://u@h/db", redis_url="redis://h/13", redis_prefix="p:",
                             data_dir=tmp_path, upstream_url="http://127.0.0.1:1", settings={"TOLLGATE_LEASE_S": 2})
    env = topo.env(0)
    assert "TOLLGATE_USER_RPM" not in env and env["ANTHROPIC_API_KEY"] == "sk-ant-test-fake-topology-0000"
    assert (env["TOLLGATE_LIMITS"], env["TOLLGATE_REDIS_PREFIX"], env["TOLLGATE_LEASE_S"]) == ("redis", "p:", "2")
    assert env["TOLLGATE_REPLICAS"] == "3" and env["TOLLGATE_DATA_DIR"] == str(tmp_path / "replica-0")
    real = topology.Topology(ledger_url="x", redis_url="y", redis_prefix="p:", data_dir=tmp_path, own_keys=True)
    assert real.env()["ANTHROPIC_API_KEY"] == "sk-ant-test-fake-shell-0000"
