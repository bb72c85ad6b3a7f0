"""Batch-run inputs: {{column}} templates and CSV / JSONL / Excel tables, with a clear error for each bad one."""

from __future__ import annotations

import io
import json

import pytest

from core.batches.files import BadTableFile, read_table
from core.batches.template import columns, render
from core.errors import ValidationError


def test_columns_are_listed_once_in_order():
    assert columns("Hi {{name}}, about {{ topic }} and {{name}} again") == ["name", "topic"]


def test_render_fills_each_variable_and_refuses_an_unknown_one_naming_the_files_columns():
    assert render("{{a}} and {{ b }}", {"a": "x", "b": None}) == "x and "
    with pytest.raises(ValidationError, match=r"\{\{c\}\}.*The file's columns: a, b"):
        render("{{a}} {{c}}", {"a": "1", "b": "2"})
    with pytest.raises(ValidationError, match="empty"):
        columns("   ")


def test_csv_rows_keep_text_exactly_with_bom_quotes_and_blank_lines():
    data = '\ufeffid,text\r\n1,"a, b"\r\n\r\n2,"=SUM(A1)"\r\n'.encode()
    assert read_table("t.csv", data) == [{"id": "1", "text": "a, b"}, {"id": "2", "text": "=SUM(A1)"}]


def test_jsonl_and_excel_read_alike():
    lines = "\n".join(json.dumps(r) for r in [{"id": 1, "text": "x"}, {"id": 2, "text": None, "tags": ["a"]}])
    assert read_table("t.jsonl", lines.encode()) == [{"id": "1", "text": "x"}, {"id": "2", "text": "", "tags": '["a"]'}]
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "text"])
    sheet.append([1, "first"])
    sheet.append([2.5, "second"])
    buf = io.BytesIO()
    book.save(buf)
    assert read_table("t.xlsx", buf.getvalue()) == [{"id": "1", "text": "first"}, {"id": "2.5", "text": "second"}]


@pytest.mark.parametrize("name,data,message", [
    ("t.txt", b"a", "give a .csv, .jsonl or .xlsx"),
    ("t.csv", b"", "no header row"),
    ("t.csv", b"id,text\n", "no rows"),
    ("t.csv", b"id,id\n1,2\n", "repeats id"),
    ("t.csv", b"id,text\n1,2,3\n", "line 2 has 3 cells"),
    ("t.csv", b"\xff\xfe\x00id", "not UTF-8"),
    ("t.jsonl", b'{"a": 1}\nnot json\n', "line 2 is not JSON"),
    ("t.jsonl", b"[1, 2]\n", "not a JSON object"),
    ("t.xlsx", b"not a zip", "not a readable Excel"),
])
def test_bad_files_get_one_clear_line(name, data, message):
    with pytest.raises(BadTableFile, match=message) as err:
        read_table(name, data)
    assert isinstance(err.value, ValidationError) and "\n" not in err.value.message


def test_row_and_size_caps():
    with pytest.raises(BadTableFile, match="3 rows; a run takes at most 2"):
        read_table("t.csv", b"a\n1\n2\n3\n", max_rows=2)
    with pytest.raises(BadTableFile, match="42 bytes; at most 10"):
        read_table("t.csv", b"a\n" + b"1\n" * 20, max_bytes=10)
