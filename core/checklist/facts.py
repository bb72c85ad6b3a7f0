"""Gather the checklist's ``Facts`` from the running process: settings, files, login, budgets, OS."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from core.checklist.items import Facts
from core.checklist.scan import cached_scan
from core.config import ROOT

log = logging.getLogger("tollgate.checklist")


def in_container() -> bool:
    """Docker's marker file, a container runtime in PID 1's cgroup, or Kubernetes' variables."""
    if Path("/.dockerenv").exists() or Path("/run/.containerenv").exists() or os.environ.get(
            "KUBERNETES_SERVICE_HOST"):
        return True
    try:
        cgroup = Path("/proc/1/cgroup").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(word in cgroup for word in ("docker", "kubepods", "containerd", "libpod", "lxc"))


def _auth(settings) -> dict | None:
    try:
        from core.accounts.users import auth_status
    except ImportError:  # a build without the console's login
        return None
    try:
        return auth_status(settings)
    except Exception as exc:  # noqa: BLE001 - an unreadable users file: login is not in a known state
        log.warning("checklist: login status unavailable (%s)", type(exc).__name__)
        return None


def _budget_users(client) -> tuple[str, ...] | None:
    if client is None or getattr(client, "budgets", None) is None:
        return None
    try:
        return tuple(client.budgets.status()["user_id"])
    except Exception as exc:  # noqa: BLE001 - the ledger is down: unknown, not "none"
        log.warning("checklist: budgets unavailable (%s)", type(exc).__name__)
        return None


def _header(headers: Mapping | None, name: str) -> str | None:
    if not headers:
        return None
    for k, v in headers.items():
        if str(k).lower() == name:
            return str(v).split(",")[0].strip().lower() or None  # the first proxy's view
    return None


def gather(settings, client=None, headers: Mapping | None = None, root: str | Path = ROOT,
           now: datetime | None = None) -> Facts:
    """Everything the checks need, read once; ``headers`` are the browser request's (st.context.headers)."""
    logger = logging.getLogger("tollgate")
    return Facts(settings=settings, now=now or datetime.now(UTC), findings=cached_scan(root).findings,
                 auth=_auth(settings), budget_users=_budget_users(client),
                 log_level=logger.getEffectiveLevel(), log_handlers=logger.hasHandlers(),
                 forwarded_proto=_header(headers, "x-forwarded-proto"),
                 euid=os.geteuid() if hasattr(os, "geteuid") else None, in_container=in_container())
