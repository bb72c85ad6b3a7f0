"""Wall time of a refused ``python -m core ask`` (an empty prompt): start-up is all it measures.

    .venv/bin/python bench/cli_start.py [--runs 5] [--root DIR]

Each run is a fresh interpreter, as an analyst's shell would start it, on a private DuckDB ledger
in a temporary directory and with no key (demo mode: nothing leaves the machine). Prints every
run and the median; ``--root`` times another checkout of the project (e.g. an older commit).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _child_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def one_run(root: Path, env: dict) -> tuple[float, float]:
    """(wall, CPU) seconds from process start to exit of one refused call (which must exit 2).

    CPU time (user + system) barely depends on what else the machine runs; wall time does.
    """
    cpu0, t0 = _child_cpu(), time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "core", "ask", "--user", "ana", ""], cwd=root, env=env,
                       capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - t0
    if p.returncode != 2 or "empty" not in p.stderr:
        raise SystemExit(f"expected a refusal (exit 2), got {p.returncode}: {p.stderr.strip()[:300]}")
    return wall, _child_cpu() - cpu0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--root", type=Path, default=ROOT, help="project checkout to time (default: this one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "TOLLGATE_"))}
        env.update(TOLLGATE_LEDGER_URL=f"duckdb:///{tmp}/l.duckdb", TOLLGATE_SPOOL_PATH=f"{tmp}/spool",
                   TOLLGATE_USERS_FILE=f"{tmp}/users.yaml")
        one_run(args.root, env)  # untimed: writes .pyc files and creates the ledger
        runs = [one_run(args.root, env) for _ in range(args.runs)]
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    print(f"refused `python -m core ask` in {args.root} (load average {os.getloadavg()[0]:.1f})")
    print("wall (s): " + ", ".join(f"{w:.2f}" for w in walls))
    print(f"median wall: {statistics.median(walls):.2f} s (target < 1 s); "
          f"median CPU: {statistics.median(cpus):.2f} s")


if __name__ == "__main__":
    main()
