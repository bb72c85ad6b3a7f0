"""Results files of a run: CSV, JSONL or Parquet, every text cell formula-safe (a spreadsheet opens them).

A minimal stand-in until h6's ``core.batches.export`` lands (which then replaces it).
"""

from __future__ import annotations

import json

from core.errors import ValidationError

KINDS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


def kind_of(name: str) -> str:
    for ext, kind in KINDS.items():
        if name.lower().endswith(ext):
            return kind
    raise ValidationError(f"{name}: give a .csv, .jsonl or .parquet file to write the results to.", field="out")


def export(rows: list[dict], kind: str) -> bytes:
    import pandas as pd

    from core.reports.usage import formula_safe

    df = pd.DataFrame(rows)
    if "cost_usd" in df:
        df["cost_usd"] = df["cost_usd"].map(lambda v: None if v is None else format(v, "f"))
    df = formula_safe(df)
    if kind == "csv":
        return df.to_csv(index=False, lineterminator="\r\n").encode("utf-8")
    if kind == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n"
                       for r in df.to_dict(orient="records")).encode("utf-8")
    import io

    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()
