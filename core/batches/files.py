"""Input tables for batch runs: CSV, JSONL or Excel bytes as a list of rows (column -> text), with caps."""

from __future__ import annotations

import csv
import io
import json

from core.errors import BadTableFile

MAX_FILE_BYTES = 50 * 1024 * 1024  # an upload larger than this is refused before it is parsed
DEFAULT_MAX_ROWS = 10_000  # TOLLGATE_BATCH_MAX_ROWS overrides it
MAX_COLUMNS = 200
KINDS = (".csv", ".jsonl", ".xlsx")


def _kind(name: str) -> str:
    lower = (name or "").lower()
    for ext in KINDS:
        if lower.endswith(ext):
            return ext
    raise BadTableFile(f"{name or 'The file'}: not a table Tollgate reads; give a .csv, .jsonl or .xlsx file.",
                       field="file")


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def _csv(name: str, data: bytes) -> list[dict[str, str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadTableFile(f"{name}: not UTF-8 text; save the CSV as UTF-8.", field="file") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise BadTableFile(f"{name}: no header row (the first line names the columns).", field="file")
        header = _header(name, header)
        rows = []
        for n, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue  # blank lines are not rows
            if len(cells) > len(header):
                raise BadTableFile(f"{name}: line {n} has {len(cells)} cells, the header {len(header)}.",
                                   field="file")
            rows.append({h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header)})
        return rows
    except csv.Error as exc:
        raise BadTableFile(f"{name}: not a readable CSV ({exc}).", field="file") from None


def _header(name: str, header: list) -> list[str]:
    names = [_text(h).strip() for h in header]
    if len(names) > MAX_COLUMNS:
        raise BadTableFile(f"{name}: {len(names)} columns; at most {MAX_COLUMNS}.", field="file")
    if any(not h for h in names):
        raise BadTableFile(f"{name}: column {names.index('') + 1} has no name in the header row.", field="file")
    dupes = sorted({h for h in names if names.count(h) > 1})
    if dupes:
        raise BadTableFile(f"{name}: the header repeats {', '.join(dupes)}.", field="file")
    return names


def _jsonl(name: str, data: bytes) -> list[dict[str, str]]:
    rows = []
    for n, line in enumerate(data.decode("utf-8-sig", errors="strict").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise BadTableFile(f"{name}: line {n} is not JSON.", field="file") from None
        if not isinstance(obj, dict):
            raise BadTableFile(f"{name}: line {n} is not a JSON object (one row per line).", field="file")
        rows.append({str(k): v if isinstance(v, str) else ("" if v is None else json.dumps(v, ensure_ascii=False)
                                                            if isinstance(v, dict | list) else _text(v))
                     for k, v in obj.items()})
    return rows


def _xlsx(name: str, data: bytes) -> list[dict[str, str]]:
    try:
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except ImportError:
        raise BadTableFile("Excel files need openpyxl (pip install openpyxl).", field="file") from None
    except Exception:  # noqa: BLE001 - zip, XML or format errors: all one bad file
        raise BadTableFile(f"{name}: not a readable Excel (.xlsx) workbook.", field="file") from None
    try:
        sheet = book.worksheets[0]
        it = sheet.iter_rows(values_only=True)
        header = next(it, None)
        if not header or not any(h is not None and str(h).strip() for h in header):
            raise BadTableFile(f"{name}: no header row in the first sheet.", field="file")
        while header and header[-1] is None:
            header = header[:-1]
        header = _header(name, list(header))
        rows = []
        for cells in it:
            if not any(c is not None and str(c).strip() for c in cells):
                continue
            rows.append({h: _text(cells[i]) if i < len(cells) else "" for i, h in enumerate(header)})
        return rows
    finally:
        book.close()


def read_table(name: str, data: bytes, *, max_rows: int = DEFAULT_MAX_ROWS,
               max_bytes: int = MAX_FILE_BYTES) -> list[dict[str, str]]:
    """The rows of a .csv, .jsonl or .xlsx file as dicts of text; BadTableFile (a ValidationError) if unusable."""
    kind = _kind(name)
    if not isinstance(data, bytes | bytearray):
        raise BadTableFile(f"{name}: the file's content must be bytes.", field="file")
    if len(data) > max_bytes:
        raise BadTableFile(f"{name}: {len(data):,} bytes; at most {max_bytes:,}.", field="file")
    try:
        rows = {".csv": _csv, ".jsonl": _jsonl, ".xlsx": _xlsx}[kind](name, bytes(data))
    except UnicodeDecodeError:
        raise BadTableFile(f"{name}: not UTF-8 text.", field="file") from None
    if not rows:
        raise BadTableFile(f"{name}: no rows (only a header, or empty).", field="file")
    if len(rows) > max_rows:
        raise BadTableFile(f"{name}: {len(rows):,} rows; a run takes at most {max_rows:,} "
                           "(TOLLGATE_BATCH_MAX_ROWS).", field="file")
    return rows
