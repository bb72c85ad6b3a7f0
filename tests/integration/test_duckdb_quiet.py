"""DuckDB never draws its progress bar on the process's stdout: it would land among a script's own lines."""

from __future__ import annotations

from sqlalchemy import text

from core.ledger.engine import make_engine


def test_a_slow_query_draws_no_progress_bar(tmp_path, capfd):
    engine = make_engine(f"duckdb:///{tmp_path / 'quiet.duckdb'}")
    with engine.connect() as conn:
        conn.execute(text("SET progress_bar_time = 0"))  # DuckDB would draw it at once (default: after 2 s)
        conn.execute(text("CREATE TABLE t AS SELECT range AS i FROM range(1000000)"))
        total = conn.execute(text("SELECT sum(i * i) FROM t WHERE i % 7 = 3")).scalar()
    engine.dispose()
    out, err = capfd.readouterr()
    assert total > 0
    assert "%" not in out and "\r" not in out and "%" not in err
