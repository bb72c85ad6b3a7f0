"""The batch page (pages/batch.py) through AppTest: a 20-row CSV end to end in now and batch mode, who sees which
runs, and a hostile cell shown as text everywhere."""

from __future__ import annotations

import time

import pytest
from markdown_it import MarkdownIt

HOSTILE = '<img src=x onerror=alert(1)> [click](https://evil.example/x) **bold** =HYPERLINK("x")'


def _csv(rows: int = 20, cell=lambda i: f"Ticket {i}: the printer is on fire") -> bytes:
    lines = ["ticket,customer"] + [f'"{cell(i)}",cust-{i}' for i in range(rows)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _fill(at, data: bytes, *, mode: str | None = None):
    """Upload ``data``, insert the first column into the template, pick ``mode`` (else the page's default)."""
    at.file_uploader(key="bt_file").set_value(("tickets.csv", data, "text/csv")).run()
    assert not at.exception, at.exception
    at.text_area(key="bt_template").set_value("Summarise in five words: ").run()
    at.button(key="bt_col_0").click().run()  # inserts {{ticket}}
    assert at.text_area(key="bt_template").value == "Summarise in five words: {{ticket}}"
    at.number_input(key="bt_max_tokens").set_value(32).run()
    if mode is not None:
        [w for w in at.get("button_group") if w.proto.label == "Mode"][0].set_value(mode).run()
    assert not at.exception, at.exception
    return at


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _until_done(at, timeout_s: float = 60):
    """Run the page again until the chosen run's downloads show (it ended), as the fragment's timer would."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        if any(b.proto.label == "Download CSV" for b in at.get("download_button")):
            return at
        time.sleep(0.3)
    pytest.fail("the run did not end: " + " | ".join(p.proto.text for p in at.get("progress")))


def _submit_and_finish(at):
    at.button(key="bt_submit").click().run()
    assert not at.exception, at.exception
    return _until_done(at)


def test_a_20_row_csv_runs_end_to_end_in_now_mode(console):
    at = _fill(console("pages/batch.py", user="bob"), _csv(), mode="now")
    previews = [t.value for t in at.text]
    assert previews[:3] == [f"Summarise in five words: Ticket {i}: the printer is on fire" for i in range(3)]
    quote = _metrics(at)
    assert quote["Rows that fit"] == "20 of 20"
    assert quote["Standard price (worst case)"].startswith("$") and quote["Batch price (worst case)"].startswith("$")
    assert at.button(key="bt_submit").proto.label == "Submit 20 rows (now mode)"
    _submit_and_finish(at)
    figures = _metrics(at)
    assert (figures["Succeeded"], figures["Failed"], figures["Pending"]) == ("20", "0", "0")
    assert figures["Spent so far"] != "$0.00"
    table = at.dataframe[-1].value
    assert list(table["row"]) == list(range(1, 21)) and list(table["customer"]) == [f"cust-{i}" for i in range(20)]
    assert set(table["outcome"]) == {"succeeded"} and table["output"].str.len().min() > 0


def test_a_20_row_csv_runs_end_to_end_in_batch_mode(console, monkeypatch):
    monkeypatch.setenv("TOLLGATE_SIM_BATCH_SECONDS", "1")
    monkeypatch.setenv("TOLLGATE_BATCH_POLL_S", "0.2")
    at = _fill(console("pages/batch.py", user="bob"), _csv())  # more than a few rows: batch is the default
    assert at.button(key="bt_submit").proto.label == "Submit 20 rows (batch mode)"
    quote = _metrics(at)
    assert quote["Batch price (worst case)"] != quote["Standard price (worst case)"]
    at.button(key="bt_submit").click().run()
    assert not at.exception, at.exception
    bar = at.get("progress")[0].proto.text
    assert "pending" in bar and "succeeded" in bar
    _until_done(at)
    figures = _metrics(at)
    assert (figures["Succeeded"], figures["Pending"]) == ("20", "0")
    assert len(at.dataframe[-1].value) == 20


def test_a_reload_finds_the_latest_run_again(console):
    at = _fill(console("pages/batch.py", user="bob"), _csv(3), mode="now")
    _submit_and_finish(at)
    again = console("pages/batch.py", user="bob")  # a new session: nothing in session state
    assert again.selectbox(key="bt_pick").value == at.selectbox(key="bt_pick").value
    assert len(_until_done(again).dataframe[-1].value) == 3


def test_an_analyst_sees_only_their_own_runs_and_an_admin_sees_all(console):
    at = _fill(console("pages/batch.py", user="bob"), _csv(3), mode="now")
    _submit_and_finish(at)
    carol = console("pages/batch.py", user="carol")
    assert "No runs yet." in [c.value for c in carol.caption]
    assert not carol.get("download_button")
    alice = console("pages/batch.py", user="alice")
    picker = alice.selectbox(key="bt_pick")
    assert len(picker.options) == 1 and picker.options[0].endswith("· bob")


def test_a_hostile_cell_is_text_in_the_preview_the_table_and_every_message(console):
    at = _fill(console("pages/batch.py", user="bob"), _csv(2, cell=lambda i: HOSTILE.replace('"', "'")), mode="now")
    hostile = HOSTILE.replace('"', "'")
    assert at.text[0].value == "Summarise in five words: " + hostile  # st.text: never Markdown
    _submit_and_finish(at)
    assert at.dataframe[-1].value["ticket"].tolist() == [hostile, hostile]  # a grid cell is text
    md = MarkdownIt("commonmark")
    shown = [e.value for e in [*at.markdown, *at.caption, *at.info, *at.warning, *at.error]]
    shown += [b.proto.label for b in at.button] + [m.proto.label for m in at.metric]
    for text in shown:
        page = md.render(text)
        assert "<a " not in page and "<img" not in page, (text, page)


def test_a_hostile_column_name_is_text_on_its_insert_button(console):
    data = b'"[x](https://evil.example) <b>h</b>",customer\nhello,c1\n'
    at = console("pages/batch.py", user="bob")
    at.file_uploader(key="bt_file").set_value(("t.csv", data, "text/csv")).run()
    assert not at.exception, at.exception
    page = MarkdownIt("commonmark").render(at.button(key="bt_col_0").proto.label)
    assert "<a " not in page and "<b>" not in page and "evil.example" in page


def test_a_run_that_does_not_fit_the_budget_cannot_be_submitted_and_says_how_many_rows_would(console, demo_env):
    import os

    from core.budgets.book import BudgetBook
    from core.clock import SystemClock
    from core.ledger.engine import make_engine
    from core.ledger.migrations import migrate

    engine = make_engine(os.environ["TOLLGATE_LEDGER_URL"])
    migrate(engine)
    BudgetBook(engine, clock=SystemClock()).set_budget("bob", "0.001", by="alice")
    engine.dispose()
    at = console("pages/batch.py", user="bob")
    at.file_uploader(key="bt_file").set_value(("t.csv", _csv(), "text/csv")).run()
    at.text_area(key="bt_template").set_value("Write an essay about {{ticket}}").run()
    at.number_input(key="bt_max_tokens").set_value(4000).run()
    assert not at.exception, at.exception
    fits = _metrics(at)["Rows that fit"]
    assert fits.endswith("of 20") and fits != "20 of 20"
    assert at.button(key="bt_submit").disabled
    assert any("does not fit" in w.value for w in at.warning)


def test_two_runs_over_the_same_rows_compare_side_by_side(console):
    at = _fill(console("pages/batch.py", user="bob"), _csv(3), mode="now")
    _submit_and_finish(at)
    first = at.selectbox(key="bt_pick").value
    at.text_area(key="bt_template").set_value("In one word: {{ticket}}").run()
    _submit_and_finish(at)
    second = at.selectbox(key="bt_pick").value
    assert second != first  # the newest run is the one shown
    other = at.selectbox(key="bt_other")
    assert other.value == first
    costs = [m.value for m in at.metric if m.label == "Cost"]
    assert len(costs) == 2 and all(c.startswith("$") for c in costs)
    assert len([m for m in at.metric if m.label == "Median latency"]) == 2
    verdict = at.info[-1].value
    assert "cheaper" in verdict or "same" in verdict
    table = at.dataframe[-1].value
    assert list(table["row"]) == [1, 2, 3]
    assert table["prompt_a"][0].startswith("In one word:") and table["prompt_b"][0].startswith("Summarise")


def test_a_run_in_progress_can_be_cancelled_from_the_page(console, monkeypatch):
    monkeypatch.setenv("TOLLGATE_SIM_TTFT_S", "0.5")  # each row takes half a second: the run is still moving
    monkeypatch.setenv("TOLLGATE_BATCH_WORKERS", "1")
    at = _fill(console("pages/batch.py", user="bob"), _csv(), mode="now")
    at.button(key="bt_submit").click().run()
    assert not at.exception, at.exception
    at.button(key="bt_cancel").click().run()
    _until_done(at)
    figures = _metrics(at)
    assert "cancelled" in at.get("progress")[0].proto.text
    assert int(figures["Succeeded"]) < 20 and figures["Pending"] == "0"
    assert "canceled" in set(at.dataframe[-1].value["outcome"])


def test_a_dry_run_sends_the_first_rows_now_as_a_run_of_their_own(console):
    at = _fill(console("pages/batch.py", user="bob"), _csv())
    at.number_input(key="bt_dry_n").set_value(2).run()
    at.button(key="bt_dry").click().run()
    assert not at.exception, at.exception
    _until_done(at)
    table = at.dataframe[-1].value
    assert list(table["row"]) == [1, 2] and set(table["outcome"]) == {"succeeded"}
    assert at.selectbox(key="bt_pick").options[0].startswith("dry run · now · 2 rows")


def _xlsx() -> bytes:
    import io

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["ticket", "customer"])
    for i in range(3):
        ws.append([f"Ticket {i}: the printer is on fire", f"cust-{i}"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("name, data", [
    ("tickets.jsonl", b"".join(b'{"ticket": "Ticket %d: the printer is on fire", "customer": "cust-%d"}\n' % (i, i)
                               for i in range(3))),
    ("tickets.xlsx", None)], ids=["jsonl", "xlsx"])
def test_jsonl_and_excel_files_offer_their_columns_and_preview(console, name, data):
    at = console("pages/batch.py", user="bob")
    at.file_uploader(key="bt_file").set_value((name, data if data is not None else _xlsx(),
                                               "application/octet-stream")).run()
    assert not at.exception, at.exception
    assert [at.button(key=f"bt_col_{i}").proto.label for i in range(2)] == ["\\{\\{ticket\\}\\}",
                                                                          "\\{\\{customer\\}\\}"]
    at.button(key="bt_col_1").click().run()
    assert [t.value for t in at.text][:3] == [f"cust-{i}" for i in range(3)]


def test_a_file_that_cannot_be_read_is_one_line_not_a_traceback(console):
    at = console("pages/batch.py", user="bob")
    at.file_uploader(key="bt_file").set_value(("t.xlsx", b"not a workbook", "application/octet-stream")).run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "not a readable Excel" in at.error[0].value and "bad_table_file" in at.error[0].value
