"""A run checked before anything is sent: every row rendered, validated as a single call, and priced at worst."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from core.batches import template as tpl
from core.batches.model import MODES, RunSpec
from core.errors import NotConfigured, ValidationError
from core.guards import validation
from core.guards.tokens import bound_request

_HOLDS = uuid.UUID("6f1d2b59-0b7e-4c43-9a55-5d0c1e7a9b15")  # namespace of row hold ids


def hold_id(run_id: str, row_index: int) -> str:
    """The budget hold of one row of a now-mode run: a deterministic UUID (the holds table keeps 36 characters)."""
    return str(uuid.uuid5(_HOLDS, f"run:{run_id}:{row_index}"))


def idempotency_key(run_id: str, row_index: int) -> str:
    """The ledger key of one now-mode row: a second call with it replays the first, billing nothing."""
    return f"run:{run_id}:{row_index}"


@dataclass(frozen=True)
class Plan:
    model: str  # the catalogue id the alias resolved to
    prompts: list[str]
    standard: list[Decimal]  # worst case per row at the standard price
    batch: list[Decimal]  # ... at the batch price

    def per_row(self, mode: str) -> list[Decimal]:
        return self.batch if mode == "batch" else self.standard


def check_spec(spec: RunSpec, max_rows: int) -> None:
    """The run's own fields (each row is checked by ``plan``)."""
    if not isinstance(spec.user, str) or not spec.user.strip():
        raise ValidationError("A user is required, so that the run's cost can be attributed.", field="user")
    if spec.mode not in MODES:
        raise ValidationError(f"mode must be batch or now, not {spec.mode!r}.", field="mode")
    if not isinstance(spec.rows, list | tuple) or not spec.rows:
        raise ValidationError("The run has no rows: give a table with at least one row.", field="rows")
    if len(spec.rows) > max_rows:
        raise ValidationError(f"The run has {len(spec.rows):,} rows; at most {max_rows:,} "
                              "(TOLLGATE_BATCH_MAX_ROWS).", field="rows")
    if isinstance(spec.max_tokens, bool) or not isinstance(spec.max_tokens, int) or spec.max_tokens < 1:
        raise ValidationError("max_tokens must be a whole number of at least 1.", field="max_tokens")
    if spec.name is not None and (not isinstance(spec.name, str) or len(spec.name) > 200):
        raise ValidationError("The run's name must be text of at most 200 characters.", field="name")


def file_columns(rows) -> list[str]:
    """Every column the rows have, in order of first appearance."""
    seen: dict[str, None] = {}
    for row in rows:
        if not hasattr(row, "keys"):
            raise ValidationError("Each row must be a mapping of column to value.", field="rows")
        for k in row:
            seen.setdefault(k, None)
    return list(seen)


def plan(client, spec: RunSpec, *, max_rows: int, now) -> Plan:
    """Render and check every row like a single call, and price each at worst; raises before anything is sent."""
    check_spec(spec, max_rows)
    tpl.check_columns(spec.template, file_columns(spec.rows))
    prompts, standard, batch = [], [], []
    used = tpl.columns(spec.template)
    model, price_row = None, None
    for i, row in enumerate(spec.rows):
        prompt = tpl.render(spec.template, {c: row.get(c, "") for c in used})  # a JSONL row may lack a key
        messages = validation.as_messages(prompt)
        try:
            v = validation.validate(spec.model, messages, max_tokens=spec.max_tokens, system=spec.system,
                                    temperature=spec.temperature, catalogue=client.catalogue, policy=client.policy)
        except ValidationError as err:
            err.message = f"Row {i + 1}: {err.message}"
            err.args = (err.message,)
            raise
        if model is None:
            model = v.model
            price_row = client.pricing.row_for(model, now)
            if price_row is None:
                raise NotConfigured(f"Model {model!r} has no price in the price table, so a run cannot be "
                                    "quoted or held against a budget; pick a priced model.")
        bound = bound_request(spec.system, messages)
        standard.append(client.pricing.worst_case_cost(price_row, bound, spec.max_tokens))
        batch.append(client.pricing.worst_case_cost(price_row, bound, spec.max_tokens, batch=True))
        prompts.append(prompt)
    return Plan(model=model, prompts=prompts, standard=standard, batch=batch)
