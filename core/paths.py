"""Where Tollgate's files live: shipped data inside the package, run-time files in a data directory.

The price table and model catalogue ship in ``core/data`` and are found with
``importlib.resources``, so an installed wheel works from any directory. The ledger,
spool, journal and users file go to ``TOLLGATE_DATA_DIR``; unset, that is ``data/`` of a
source checkout (``make run``, the tests) and ``$XDG_DATA_HOME/tollgate`` (else
``~/.local/share/tollgate``) for an installed package.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path

# The folder holding core/: a checkout's root, or site-packages when installed.
SOURCE_ROOT = Path(__file__).resolve().parent.parent
# Wheels install as plain files, so the resource folder is a real directory.
PACKAGE_DATA = Path(str(files("core").joinpath("data")))


def in_checkout() -> bool:
    """True when core/ is imported from a source checkout (its pyproject.toml beside it)."""
    return (SOURCE_ROOT / "pyproject.toml").is_file()


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """The run-time data directory when TOLLGATE_DATA_DIR is unset (see the module docstring)."""
    if in_checkout():
        return SOURCE_ROOT / "data"
    env = os.environ if env is None else env
    base = (env.get("XDG_DATA_HOME") or "").strip()
    return (Path(base) if base else Path.home() / ".local" / "share") / "tollgate"


def data_files(data_dir: str | Path) -> dict[str, str]:
    """Defaults of the settings whose files live in ``data_dir`` (field name -> value)."""
    root = Path(data_dir).expanduser()
    return {"ledger_url": f"duckdb:///{root / 'ledger.duckdb'}", "spool_path": str(root / "spool" / "ledger.spool"),
            "users_file": str(root / "users.yaml")}
