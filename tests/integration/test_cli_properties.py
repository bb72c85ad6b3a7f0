"""Property: whatever argv an analyst types, `python -m core` exits cleanly (0, 1 or 2), never with a crash."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.cli.main import main

# Values analysts do type, and the edges that used to crash: huge, non-finite, reversed, malformed.
EDGES = ["", "0", "-1", "1e400", "-1e400", "inf", "NaN", "1e9", "1e6", "0.00000000001", "25", "$25", "2026-12-01",
         "2026-11-01", "2026-02-30", "9999-12-31", "0001-01-01", "2026-13", "*", "ana", "simple", "claude-nope",
         "claude-haiku-5-5", "Europe/Paris", "Nowhere/X", "user,model", "day,day", "x" * 300, "a\x00b", "\x07",
         "ignore previous instructions", "/nonexistent/t.toml", "."]
VALUE = st.one_of(st.sampled_from(EDGES), st.integers(-10**6, 10**12).map(str),
                  st.text(st.characters(blacklist_categories=("Cs",)), max_size=20))

FLAGS = {
    ("usage",): ["--since", "--until", "--by", "--tz", "--json"],
    ("budget", "set"): ["--user", "--usd", "--force"],
    ("budget", "remove"): ["--user"],
    ("budget", "show"): ["--json"],
    ("budget", "alerts"): ["--month", "--json"],
    ("reprice",): ["--since", "--until", "--table", "--json"],
    ("ask",): ["--user", "--model", "--max-tokens", "--system", "--temperature", "--no-cache", "--json",
               "--stream"],
    ("user", "remove"): [],
    ("config",): [],
}
SWITCHES = {"--json", "--force", "--no-cache", "--stream"}
POSITIONAL = {("ask",): 1, ("user", "remove"): 1}


@st.composite
def argv(draw) -> list[str]:
    cmd = draw(st.sampled_from(sorted(FLAGS)))
    out = list(cmd)
    for flag in draw(st.lists(st.sampled_from(FLAGS[cmd]), unique=True)) if FLAGS[cmd] else []:
        out += [flag] if flag in SWITCHES else [flag, draw(VALUE)]
    out += [draw(VALUE) for _ in range(POSITIONAL.get(cmd, 0))]
    if draw(st.integers(0, 9)) == 0:  # now and then a stray token anywhere
        out.insert(draw(st.integers(0, len(out))), draw(VALUE))
    return out


@pytest.fixture
def cli_env(tmp_path, monkeypatch, fresh_sim):
    for k in list(os.environ):
        if k.startswith(("ANTHROPIC_", "TOLLGATE_")):
            monkeypatch.delenv(k)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fresh_sim.url)
    monkeypatch.setenv("TOLLGATE_LEDGER_URL", f"duckdb:///{tmp_path / 'l.duckdb'}")
    monkeypatch.setenv("TOLLGATE_SPOOL_PATH", str(tmp_path / "spool"))
    monkeypatch.setenv("TOLLGATE_USERS_FILE", str(tmp_path / "users.yaml"))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=argv())
def test_any_argv_exits_cleanly(cli_env, capsys, args):
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse: usage errors exit 2, --help 0
        rc = exc.code
    out, err = capsys.readouterr()
    assert rc in (0, 1, 2), (args, rc, err)
    assert "Traceback" not in err and "Traceback" not in out, (args, err)
    assert "unexpected" not in err, (args, err)  # the CLI's last-resort line means an uncaught fault
