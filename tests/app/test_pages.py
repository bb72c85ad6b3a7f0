"""Each console page renders in demo mode, and the playground makes a real guarded call."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TIMEOUT = 30


def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def test_playground_renders_in_demo_mode():
    at = app()
    assert at.title[0].value == "Playground"
    assert any("Demo mode" in i.value for i in at.info)


def test_playground_call_shows_cost():
    at = app()
    at.text_area[0].input("What is a token bucket?")
    at.checkbox[0].uncheck()
    at.button[0].click().run()
    assert not at.exception, at.exception
    labels = {m.label: m.value for m in at.metric}
    assert labels["Cost"].startswith("$") and labels["Output tokens"] != "0"


def test_playground_shows_a_validation_error():
    at = app()
    at.text_area[0].input("   ")
    at.button[0].click().run()
    assert not at.exception and at.error and "empty" in at.error[0].value.lower()


def test_usage_page_renders():
    at = app()
    at.switch_page("pages/usage.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Usage & budgets"


def test_health_page_renders():
    at = app()
    at.switch_page("pages/health.py").run()
    assert not at.exception, at.exception
    assert at.metric[0].value == "healthy"
