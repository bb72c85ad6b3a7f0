"""The checklist evaluated: each item's status with the standing tick, a summary, and a Markdown export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.checklist.items import FAIL, ITEMS, MANUAL, PASS, WARN, Facts, Item
from core.checklist.store import Tick
from core.render import safe_markdown

STATUSES = (PASS, WARN, FAIL, MANUAL)
BADGE = {PASS: "✅ pass", WARN: "⚠️ warn", FAIL: "❌ fail", MANUAL: "☐ manual"}


@dataclass(frozen=True)
class Row:
    item: Item
    status: str
    reason: str
    tick: Tick | None = None  # an admin's tick (manual items only)

    @property
    def done(self) -> bool:
        return self.status == PASS or (self.status == MANUAL and self.tick is not None)

    @property
    def badge(self) -> str:
        return "☑ ticked" if self.status == MANUAL and self.tick else BADGE[self.status]


def evaluate(facts: Facts, ticks: dict[str, Tick] | None = None) -> list[Row]:
    """Every item checked; a check that raises is a ``fail`` naming the exception, never a crash."""
    rows = []
    for item in ITEMS:
        try:
            status, reason = item.check(facts)
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
            status, reason = FAIL, f"The check itself failed ({type(exc).__name__})."
        tick = (ticks or {}).get(item.id) if status == MANUAL else None
        rows.append(Row(item, status, reason, tick))
    return rows


def summary(rows: list[Row]) -> dict[str, int]:
    """Counts per status, plus ``ticked`` manual items and ``done`` (passed or ticked) out of ``total``."""
    counts = {s: sum(r.status == s for r in rows) for s in STATUSES}
    counts["ticked"] = sum(r.status == MANUAL and r.tick is not None for r in rows)
    counts["done"], counts["total"] = sum(r.done for r in rows), len(rows)
    return counts


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _when(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC")


def markdown(rows: list[Row], *, environment: str, generated_at: datetime, generated_by: str) -> str:
    """The whole report: summary, every item's status, reason and fix, and who ticked what, when."""
    s = summary(rows)
    out = [f"# Tollgate production checklist ({environment})", "",
           f"Generated {_when(generated_at)} by {generated_by}. {s['done']} of {s['total']} items done: "
           f"{s[PASS]} pass, {s[WARN]} warn, {s[FAIL]} fail, {s[MANUAL]} manual ({s['ticked']} ticked).", "",
           "| item | status | reason | how to fix | ticked |", "|---|---|---|---|---|"]
    for r in rows:
        ticked = ""
        if r.tick:
            ticked = f"{r.tick.ticked_by}, {_when(r.tick.ticked_at)}" + (f": {safe_markdown(r.tick.note)}" if r.tick.note else "")
        fix = "" if r.status == PASS else r.item.fix
        out.append(f"| {_cell(r.item.title)} (`{r.item.id}`) | {r.badge} | {_cell(r.reason)} | {_cell(fix)} "
                   f"| {_cell(ticked)} |")
    out += ["", "## Why each item matters", ""]
    out += [f"- **{r.item.title}**: {r.item.why}" for r in rows]
    return "\n".join(out) + "\n"
