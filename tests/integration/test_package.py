"""The installable package: pyproject's dependencies match requirements.txt, and an installed copy works anywhere."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _requirements(path: Path) -> set[str]:
    lines = (re.sub(r"#.*", "", line).strip() for line in path.read_text().splitlines())
    return {line.replace(" ", "") for line in lines if line and not line.startswith("-")}


def test_requirements_txt_is_the_runtime_list_plus_postgres_and_redis():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert _requirements(ROOT / "requirements.txt") == set(project["dependencies"]) | set(extras["postgres"]) | set(
        extras["redis"])
    assert {"postgres", "redis", "aws", "sentry", "otel", "dev"} <= set(extras)
    assert _requirements(ROOT / "requirements-dev.txt") == set(extras["dev"])
    assert project["scripts"]["tollgate"] == "core.cli.main:main"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """``pip install --no-deps --target`` of a copy of the source (the checkout gets no build/ or egg-info)."""
    src, target = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("site")
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copytree(ROOT / "core", src / "core", ignore=shutil.ignore_patterns("__pycache__"))
    p = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
                        "--target", str(target), str(src)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return target


def _run(installed: Path, tmp_path: Path, argv: list[str]) -> subprocess.CompletedProcess:
    """Run from an empty directory with only the installed copy importable as ``core`` (no checkout)."""
    cwd, home = tmp_path / "elsewhere", tmp_path / "home"
    cwd.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "ANTHROPIC_", "XDG_"))}
    env.update(PYTHONPATH=str(installed), HOME=str(home))
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_an_installed_package_loads_its_data_and_defaults_to_a_home_data_dir(installed, tmp_path):
    code = ("import core, core.config as c\n"
            "from core.catalog.models import default_catalogue\n"
            "from core.catalog.pricing import PriceTable\n"
            "s = c.load_settings(load_keys=False)\n"
            "t = PriceTable.load(s.pricing_file)\n"
            "print(core.__file__); print(s.ledger_url); print(s.spool_path); print(s.users_file)\n"
            "from core.ledger.engine import resolve_url\n"
            "print(resolve_url('duckdb:///here.duckdb').database)\n"
            "print(len(default_catalogue().models), t.row_for('claude-sonnet-5-5') is not None)\n")
    p = _run(installed, tmp_path, [sys.executable, "-c", code])
    assert p.returncode == 0, p.stderr[-3000:]
    where, ledger, spool, users, relative, loaded = p.stdout.splitlines()
    data = tmp_path / "home" / ".local" / "share" / "tollgate"
    assert where == str(installed / "core" / "__init__.py")
    assert ledger == f"duckdb:///{data / 'ledger.duckdb'}"
    assert spool == str(data / "spool" / "ledger.spool") and users == str(data / "users.yaml")
    assert relative == str(tmp_path / "elsewhere" / "here.duckdb")  # a relative DuckDB path: from the cwd
    count, priced = loaded.split()
    assert int(count) > 0 and priced == "True"


@pytest.mark.slow
def test_the_tollgate_command_is_python_m_core(installed, tmp_path):
    command = _run(installed, tmp_path, [str(installed / "bin" / "tollgate"), "config"])
    module = _run(installed, tmp_path, [sys.executable, "-m", "core", "config"])
    assert command.returncode == 0 and module.returncode == 0, command.stderr[-2000:] + module.stderr[-2000:]
    assert command.stdout == module.stdout and "TOLLGATE_DATA_DIR" in command.stdout
    assert "TOLLGATE_PRICING_FILE" in command.stdout and "core/data/pricing.toml" in command.stdout
    helped = _run(installed, tmp_path, [str(installed / "bin" / "tollgate"), "--help"])
    assert helped.returncode == 0 and "usage:" in helped.stdout


@pytest.mark.slow
def test_tollgate_data_dir_moves_every_data_file(installed, tmp_path):
    env = repr({"TOLLGATE_DATA_DIR": str(tmp_path / "d")})
    code = (f"import core.config as c; s = c.load_settings(load_keys=False, env={env})\n"
            "print(s.ledger_url); print(s.spool_path); print(s.users_file)")
    p = _run(installed, tmp_path, [sys.executable, "-c", code])
    assert p.returncode == 0, p.stderr[-3000:]
    d = tmp_path / "d"
    assert p.stdout.splitlines() == [f"duckdb:///{d / 'ledger.duckdb'}", str(d / "spool" / "ledger.spool"),
                                     str(d / "users.yaml")]
