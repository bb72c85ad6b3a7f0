"""The simulator's pure parts: image headers and scaling, PDF pages and text, schema-built tool input, the tool rule."""

from __future__ import annotations

import pytest

from core.simulator.compose import block_id, finish, names_tool
from core.simulator.media import (
    image_size,
    image_tokens,
    pdf_pages,
    pdf_text,
    scaled_size,
    sniff_image,
)
from core.simulator.schema_input import build_input, prompt_word
from tests.media import gif, jpeg_header, pdf, png, webp_header


@pytest.mark.parametrize(("raw", "kind", "size"), [
    (png(640, 480), "image/png", (640, 480)),
    (gif(30, 25), "image/gif", (30, 25)),
    (jpeg_header(1024, 768), "image/jpeg", (1024, 768)),
    (webp_header(800, 600), "image/webp", (800, 600)),
    (b"hello world, not an image", None, None),
    (b"\x89PNG\r\n\x1a\n", "image/png", None),  # a signature with no header after it
])
def test_image_headers(raw, kind, size):
    assert sniff_image(raw) == kind and image_size(raw) == size


def test_a_jpeg_size_is_found_past_other_segments():
    exif = b"\xff\xe1\x00\x10" + b"Exif\x00\x00" + b"\x00" * 8
    raw = jpeg_header(300, 200)
    assert image_size(raw[:2] + exif + raw[2:]) == (300, 200)


def test_webp_lossy_and_lossless_headers():
    lossy = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 10 + (320).to_bytes(2, "little") + (240).to_bytes(2, "little")
    assert image_size(lossy) == (320, 240)
    w, h = 100 - 1, 50 - 1
    bits = w | h << 14
    lossless = b"RIFF\x00\x00\x00\x00WEBPVP8L" + b"\x00" * 4 + b"\x2f" + bits.to_bytes(4, "little")
    assert image_size(lossless) == (100, 50)


@pytest.mark.parametrize(("size", "scaled", "tokens"), [
    ((200, 100), (200, 100), 27),
    ((1000, 1000), (1000, 1000), 1334),
    ((3000, 2000), (1313, 875), 1532),
    ((4000, 500), (1568, 196), 410),
    ((1, 1), (1, 1), 1),
])
def test_scaling_and_tokens(size, scaled, tokens):
    assert scaled_size(*size) == scaled and image_tokens(*size) == tokens
    w, h = scaled
    assert max(w, h) <= 1568 and w * h <= 1_150_000


def test_pdf_pages_and_text():
    assert pdf_pages(pdf()) == 2 and pdf_text(pdf()) == ["Page one says hello.", "Page two says goodbye."]
    assert pdf_pages(pdf(["(brackets) and \\ slash"] * 5)) == 5
    assert pdf_text(pdf(["(brackets) and \\ slash"]))[0] == "(brackets) and \\ slash"
    assert pdf_pages(b"%PDF-1.7\n<< /Type /Pages /Count 7 >>") == 7  # no page objects: the tree's count
    assert pdf_pages(b"%PDF-1.7\n") == 1
    assert pdf_text(b"%PDF-1.7\nBT [(Hel) -20 (lo)] TJ ET") == ["Hello"]


SCHEMA = {"type": "object", "required": ["s", "i", "n", "b", "e", "a", "o", "c", "t", "any", "low"],
          "properties": {"s": {"type": "string"}, "i": {"type": "integer"}, "n": {"type": "number", "maximum": 0.5},
                         "b": {"type": "boolean"}, "e": {"enum": ["x", "y"]},
                         "a": {"type": "array", "items": {"type": "integer"}, "minItems": 2},
                         "o": {"type": "object", "required": ["deep"], "properties": {"deep": {"type": "string"}}},
                         "c": {"const": 7}, "t": {"type": ["null", "boolean"]},
                         "any": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                         "low": {"type": "integer", "minimum": 2.5},
                         "optional": {"type": "string"}}}


def test_schema_driven_input():
    assert build_input(SCHEMA, "Oslo") == {"s": "Oslo", "i": 1, "n": 0.5, "b": True, "e": "x", "a": [1, 1],
                                           "o": {"deep": "Oslo"}, "c": 7, "t": True, "any": 1, "low": 3}
    assert build_input({"type": "object", "properties": {"x": {"type": "string"}}}) == {}
    assert build_input({}) == {} and build_input(None) == {}
    loop = {"type": "object", "required": ["me"], "properties": {}}
    loop["properties"]["me"] = loop  # a schema that contains itself stops at a fixed depth
    assert isinstance(build_input(loop), dict)


def test_prompt_word_and_tool_naming():
    assert prompt_word("Use get_weather for Copenhagen", exclude=["get_weather"]) == "Copenhagen"
    assert prompt_word("use weather tool", exclude=["weather"]) == "tool"
    assert prompt_word("", exclude=()) == "example"
    assert names_tool("please call Get-Weather now", "get_weather")
    assert names_tool("use get weather", "get_weather") and not names_tool("use get_weathers", "get_weather")
    assert not names_tool("forget_weather", "get_weather")


def test_ids_look_like_the_apis():
    one, two = block_id("toolu_01", 5), block_id("toolu_01", 5, 1)
    assert len(one) == 30 and one != two and one == block_id("toolu_01", 5)


def test_finish_cuts_whole_tool_calls_and_keeps_thinking_tokens():
    think = ({"type": "thinking", "thinking": "a b c", "signature": "s"}, 3)
    text = ({"type": "text", "text": "one two three"}, 3)
    use = ({"type": "tool_use", "id": "t", "name": "f", "input": {}}, 4)
    whole = finish([think, text, use], 100, (), "tool_use")
    assert (whole.output_tokens, whole.thinking_tokens, whole.stop_reason) == (10, 3, "tool_use")
    cut = finish([think, text, use], 8, (), "tool_use")
    assert [b["type"] for b in cut.content] == ["thinking", "text"] and cut.stop_reason == "max_tokens"
    assert cut.output_tokens == 6
    short = finish([think, text], 4, (), "end_turn")
    assert short.content[1]["text"] == "one" and short.output_tokens == 4
    stopped = finish([think, text, use], 100, ("two",), "tool_use")
    assert stopped.content[-1] == {"type": "text", "text": "one "} and stopped.stop_sequence == "two"


def test_a_request_from_before_a_reset_is_not_counted_after_it():
    from core.simulator.state import Stats

    stats = Stats()
    late = stats.request("/v1/messages")  # arrived, still being answered (a slow fault)
    stats.clear()  # the next test's reset
    stats.status(200, late)
    stats.stream(late)
    now = stats.request("/v1/messages")
    stats.status(500, now)
    snap = stats.snapshot()
    assert snap["statuses"] == {"500": 1} and snap["stream_requests"] == 0 and snap["total_requests"] == 1
