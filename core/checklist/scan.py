"""Find API-key-shaped strings in the repository and the local config files, never quoting one.

Tracked files come from ``git ls-files`` (a walk that skips .git, .venv and data when git
is unavailable); ``.env`` and ``.streamlit/*.toml`` are read too, tracked or not. A match
is ``sk-ant-`` followed by 20+ key characters. The documented fakes (test keys and the
simulator's placeholder contain ``fake``, ``test``, ``demo``, ``example``, ``dummy``,
``placeholder``, ``simulator``, ``canary`` or a long run of ``x``/``0``) are not findings. The result
is cached per root for ``TTL_S``: the console re-renders often, the files rarely change.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from core.errors import key_pattern

KEY_SHAPE = key_pattern(min_chars=20)  # shorter runs are prose or truncated examples, not leaks
FAKE_MARKS = re.compile(r"fake|test|demo|example|dummy|placeholder|simulator|canary|x{6,}|0{8,}", re.I)
LOCAL_CONFIG = (".env", ".streamlit/*.toml")  # where a key may sit on disk, tracked or not
SKIP_DIRS = {".git", ".venv", "data", "__pycache__", "node_modules", ".pytest_cache", ".ruff_cache"}
MAX_BYTES = 2_000_000  # larger files are data, not config or code
TTL_S = 300.0

_cache: dict[str, tuple[float, ScanResult]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Finding:
    """A key-shaped string: the file (relative), its line, and only the match's masked tail."""

    path: str
    line: int
    masked: str
    tracked: bool  # in git (or, without git, anywhere in the tree)


@dataclass(frozen=True)
class ScanResult:
    findings: tuple[Finding, ...]
    files: int
    elapsed_ms: float


def is_fake(match: str) -> bool:
    """True for the documented fake keys: tests and the demo never hold a real one."""
    return bool(FAKE_MARKS.search(match[len("sk-ant-"):]))


def _tracked(root: Path) -> list[Path] | None:
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True, timeout=5,
                             check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return [root / p for p in out.decode("utf-8", "replace").split("\0") if p]


def _walk(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not SKIP_DIRS.intersection(path.relative_to(root).parts):
            found.append(path)
    return found


def _scan_file(path: Path, root: Path, tracked: bool) -> list[Finding]:
    try:
        if path.stat().st_size > MAX_BYTES:
            return []
        data = path.read_bytes()
    except OSError:
        return []
    if b"sk-ant-" not in data:  # the common case: one byte search, no decoding
        return []
    text = data.decode("utf-8", "replace")
    out = []
    for m in KEY_SHAPE.finditer(text):
        if not is_fake(m.group()):
            line = text.count("\n", 0, m.start()) + 1
            out.append(Finding(str(path.relative_to(root)), line, "sk-ant-…" + m.group()[-4:], tracked))
    return out


def scan(root: str | Path) -> ScanResult:
    """Every non-fake key-shaped string under ``root`` (tracked files, plus local config files)."""
    t0 = time.perf_counter()
    root = Path(root).resolve()
    files = _tracked(root)
    tracked = files if files is not None else _walk(root)
    tracked_set = set(tracked)
    local = [p for pattern in LOCAL_CONFIG for p in root.glob(pattern) if p.is_file() and p not in tracked_set]
    findings = [f for p in tracked for f in _scan_file(p, root, True)]
    findings += [f for p in local for f in _scan_file(p, root, False)]
    return ScanResult(tuple(findings), len(tracked) + len(local), round((time.perf_counter() - t0) * 1000, 1))


def cached_scan(root: str | Path, now: float | None = None) -> ScanResult:
    """``scan(root)``, reused for ``TTL_S`` seconds (``now``: monotonic seconds, for tests)."""
    key, t = str(Path(root).resolve()), time.monotonic() if now is None else now
    with _lock:
        hit = _cache.get(key)
        if hit and t - hit[0] < TTL_S:
            return hit[1]
    result = scan(root)
    with _lock:
        _cache[key] = (t, result)
    return result
