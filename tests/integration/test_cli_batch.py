"""`python -m core batch …`: submit (now and batch mode), status, results (csv/jsonl/parquet, formula-safe),
cancel, list; every bad input one clear line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(tmp_path, fresh_sim):
    """The CLI in a subprocess over the simulator (batches end in 0.3 s) and a private DuckDB ledger."""
    fresh_sim.configure(batch_seconds=0.3)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "TOLLGATE_"))}
    env.update(ANTHROPIC_BASE_URL=fresh_sim.url, ANTHROPIC_API_KEY="sk-ant-test-fake-0000",
               TOLLGATE_LEDGER_URL=f"duckdb:///{tmp_path / 'l.duckdb'}", TOLLGATE_SPOOL_PATH=str(tmp_path / "spool"),
               TOLLGATE_DATA_DIR=str(tmp_path), TOLLGATE_CACHE="off")

    def run(*args, check_rc=0):
        p = subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=120)
        assert check_rc is None or p.returncode == check_rc, p.stdout + p.stderr
        return p
    return run


@pytest.fixture
def table(tmp_path) -> Path:
    path = tmp_path / "tickets.csv"
    path.write_text("id,text\n1,printer jammed\n2,=HYPERLINK(\"http://x\")\n3,stapler empty\n", encoding="utf-8")
    return path


def test_now_mode_submit_waits_and_results_are_written_formula_safe(cli, table, tmp_path):
    out = json.loads(cli("batch", "submit", str(table), "--template", "Summarise {{id}}: {{text}}",
                         "--model", "claude-haiku-5-5", "--max-tokens", "30", "--mode", "now", "--user", "ana",
                         "--json").stdout)
    assert out["state"] == "ended" and out["counts"]["succeeded"] == 3 and Decimal(out["reserved_usd"]) > 0
    status = cli("batch", "status", out["id"]).stdout
    assert out["id"] in status and "ended, 3 of 3 succeeded" in status
    for ext in ("csv", "jsonl", "parquet"):
        cli("batch", "results", out["id"], "--out", str(tmp_path / f"r.{ext}"))
    csv = (tmp_path / "r.csv").read_text(encoding="utf-8")
    assert csv.splitlines()[0] == "row,id,text,prompt,output,outcome,cost_usd,latency_ms,error"
    assert "'=HYPERLINK" in csv and ",=HYPERLINK" not in csv  # a spreadsheet shows it, never runs it
    lines = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [x["row"] for x in lines] == [1, 2, 3] and all(x["outcome"] == "succeeded" for x in lines)
    import pandas as pd

    assert len(pd.read_parquet(tmp_path / "r.parquet")) == 3
    listed = json.loads(cli("batch", "list", "--json").stdout)
    assert [r["id"] for r in listed] == [out["id"]]


def test_batch_mode_submit_prints_the_id_and_the_hold_then_status_advances_it(cli, table):
    p = cli("batch", "submit", str(table), "--template", "{{text}}", "--model", "simple", "--mode", "batch",
            "--user", "ana")
    run_id = p.stdout.splitlines()[0]
    assert "reserved $" in p.stdout and "(batch mode)" in p.stdout
    deadline = time.monotonic() + 30
    while True:
        st = json.loads(cli("batch", "status", run_id, "--json").stdout)
        if st["state"] == "ended" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert st["state"] == "ended" and st["counts"]["succeeded"] == 3 and Decimal(st["spent_usd"]) > 0
    assert cli("batch", "cancel", run_id).stdout.count("ended") == 1  # an ended run stays as it was


@pytest.mark.parametrize("args,says", [
    (["batch", "submit", "missing.csv", "--template", "x", "--model", "simple"], "missing.csv: no such file"),
    (["batch", "submit", "{table}", "--template", "{{nope}}", "--model", "simple"], "The file's columns: id, text"),
    (["batch", "submit", "{table}", "--template", "{{id}}", "--model", "gpt-4"], "gpt-4"),
    (["batch", "submit", "{table}", "--template", "{{id}}", "--model", "simple", "--max-tokens", "0"],
     "--max-tokens must be from 1"),
    (["batch", "submit", "{bad}", "--template", "{{id}}", "--model", "simple"], "give a .csv, .jsonl or .xlsx"),
    (["batch", "status", "no-such-run"], "No batch run 'no-such-run'"),
    (["batch", "cancel", "no-such-run"], "No batch run"),
    (["batch", "results", "no-such-run", "--out", "r.txt"], "give a .csv, .jsonl or .parquet"),
    (["batch", "results", "no-such-run", "--out", "r.csv"], "No batch run"),
    (["worker"], "TOLLGATE_BATCH_BROKER_URL is unset"),
])
def test_every_bad_input_is_one_clear_line_and_exit_2(cli, table, tmp_path, args, says):
    bad = tmp_path / "t.txt"
    bad.write_text("id\n1\n")
    p = cli(*[a.replace("{table}", str(table)).replace("{bad}", str(bad)) for a in args], check_rc=2)
    # one line saying what is wrong (argparse's own refusals come after its usage lines, as for every command)
    lines = [ln for ln in p.stderr.strip().splitlines() if not ln.startswith(("usage:", " "))]
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in p.stderr, p.stderr
