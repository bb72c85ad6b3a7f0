"""The door built first by a thread with no Streamlit session (the gateway's workers) logs no warning."""

from __future__ import annotations

import logging
import threading

from pages import widgets

STREAMLIT_CONTEXT_LOG = "streamlit.runtime.scriptrunner_utils.script_run_context"


class _Caught(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_a_gateway_thread_opening_the_door_first_logs_no_missing_context_warning():
    caught, logger = _Caught(), logging.getLogger(STREAMLIT_CONTEXT_LOG)
    logger.addHandler(caught)
    got = []
    try:
        worker = threading.Thread(target=lambda: got.append(widgets.door()), name="tollgate-gateway_0")
        worker.start()
        worker.join(60)
    finally:
        logger.removeHandler(caught)
    assert got and got[0].client is not None
    assert got[0] is widgets.door()  # the same door the pages get: one per process
    assert not [line for line in caught.lines if "missing ScriptRunContext" in line], caught.lines
