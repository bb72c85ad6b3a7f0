"""The settings as documented: a (variable, default, doc) row each, for the README and ``python -m core config``."""

from __future__ import annotations

from core.config import _DATA_DEFAULTS, DEFAULT_DATA_DIR, Settings, fields
from core.paths import PACKAGE_DATA


def documented() -> list[tuple[str, str, str]]:
    """(variable, default, doc) for every setting, for the README and ``python -m core config``."""
    rows = [("ANTHROPIC_API_KEY", "", "API key (label 'primary'); also ANTHROPIC_API_KEY_<LABEL> for "
             "rotation, ANTHROPIC_API_KEY_FILE, or TOLLGATE_AWS_SECRET_ID for AWS Secrets Manager.")]
    for f in fields(Settings):
        if "env" in f.metadata:
            default = f.default
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else ("" if default is None
                                                                                     else str(default))
            rows.append((f.metadata["env"], _shown_default(f.name, shown), f.metadata["doc"]))
    return rows


def _shown_default(name: str, shown: str) -> str:
    """A default as documented: data files under the data directory, shipped files under the package."""
    if name in _DATA_DEFAULTS:
        return shown.replace(str(DEFAULT_DATA_DIR), "$TOLLGATE_DATA_DIR")
    if name == "data_dir":
        return "data/ (checkout)"
    return shown.replace(str(PACKAGE_DATA.parent.parent) + "/", "")
