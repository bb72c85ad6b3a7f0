"""Images count toward the reservation by their pixel size; server tools by their max_uses."""

from __future__ import annotations

import base64
import io
import math

import pytest
from PIL import Image

from core.guards.media import (
    IMAGE_MAX_TOKENS,
    base64_image_size,
    image_source_tokens,
    image_token_bound,
    sniff,
)
from core.guards.tokens import (
    BOUND_BLOCK_OVERHEAD,
    BOUND_MESSAGE_OVERHEAD,
    BOUND_REQUEST_OVERHEAD,
    MEDIA_TOKENS,
    WEB_SEARCH_DEFAULT_USES,
    bound_request,
    estimate_request,
    server_tool_uses,
)

FORMATS = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp-lossy": "WEBP", "webp-lossless": "WEBP"}


def encoded(fmt: str, width: int, height: int, **save) -> str:
    """A real image file of that size, base64 as a request carries it."""
    buf = io.BytesIO()
    mode = "P" if fmt == "gif" else "RGB"
    if fmt == "webp-lossless":
        save["lossless"] = True
    Image.new(mode, (width, height)).save(buf, FORMATS[fmt], **save)
    return base64.b64encode(buf.getvalue()).decode()


def image_block(data: str, media_type: str = "image/png") -> dict:
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def api_tokens(width: int, height: int) -> int:
    """Anthropic's rule with the scaled sides rounded down, as the API (and the simulator) bill it."""
    f = min(1.0, 1568 / max(width, height), math.sqrt(1_150_000 / (width * height)))
    return max(1, math.ceil(max(1, int(width * f)) * max(1, int(height * f)) / 750))


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize(("width", "height"), [(300, 200), (1, 1), (2000, 2000), (8000, 100), (1568, 733)])
def test_every_format_is_read_from_its_header(fmt, width, height):
    data = encoded(fmt, width, height)
    assert base64_image_size(data) == (width, height)
    assert sniff(base64.b64decode(data)) == "image/" + FORMATS[fmt].lower()
    bound = image_source_tokens({"type": "base64", "data": data})
    assert api_tokens(width, height) <= bound <= IMAGE_MAX_TOKENS


@pytest.mark.parametrize(("data", "media_type"), [
    (b"%PDF-1.7\n1 0 obj", "application/pdf"),
    (b"\xef\xbb\xbf\n%PDF-1.4", "application/pdf"),  # a PDF's header may follow junk within 1 KiB
    (b"GIF8", None), (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None), (b"", None),
])
def test_the_bytes_not_the_name_say_what_a_file_is(data, media_type):
    assert sniff(data) == media_type


@pytest.mark.parametrize(("width", "height", "bound"), [
    (300, 200, 81),      # 301 x 201 / 750 = 80.7: the API bills 80
    (2000, 2000, 1537),  # scaled to 1.15 MP: 1072.4 px a side; the API bills 1072 x 1072 / 750 = 1533
    (8000, 100, 44),     # long edge to 1568 px: 1568 x 19.6; the API bills 1568 x 19 / 750 = 40
    (1000, 1000, 1337),  # not scaled: 1001 x 1001 / 750
])
def test_the_bound_by_hand(width, height, bound):
    assert image_token_bound(width, height) == bound


def test_no_image_is_bounded_above_the_per_image_maximum():
    assert max(image_token_bound(w, h) for w in (1, 500, 1568, 5000, 20000) for h in (1, 700, 1568, 9000)) <= 1600
    assert image_token_bound(0, 10) == IMAGE_MAX_TOKENS


def test_a_jpeg_whose_frame_header_is_deep_is_still_read():
    data = encoded("jpeg", 640, 480, icc_profile=b"\x00" * 60_000)  # the ICC profile comes before the frame
    assert len(data) > 80_000 and base64_image_size(data) == (640, 480)


@pytest.mark.parametrize("data", ["AAAA", "", "not base64 at all!", base64.b64encode(b"GIF89a").decode(),
                                  base64.b64encode(b"\xff\xd8\xff\xe0\x00\x10JFIF").decode()])
def test_an_unreadable_image_counts_as_the_per_image_maximum(data):
    assert image_source_tokens({"type": "base64", "data": data}) == IMAGE_MAX_TOKENS


def test_images_count_toward_the_request_bound_by_their_size():
    small, big = encoded("png", 300, 200), encoded("png", 4000, 3000)
    text = "What is in these pictures?"
    messages = [{"role": "user", "content": [image_block(small), image_block(big), {"type": "text", "text": text}]}]
    expected = (BOUND_REQUEST_OVERHEAD + BOUND_MESSAGE_OVERHEAD + 3 * BOUND_BLOCK_OVERHEAD
                + 81 + image_token_bound(4000, 3000) + len(text))
    assert bound_request(None, messages) == expected
    assert bound_request(None, messages) < len(big)  # far below the base64's bytes, which are not tokens


def test_images_inside_tool_results_and_content_documents_are_bounded_too():
    img = image_block(encoded("gif", 300, 200), "image/gif")
    in_result = [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [img]}]}]
    doc = {"type": "document", "source": {"type": "content", "content": [img, {"type": "text", "text": "caption"}]}}
    assert bound_request(None, in_result) == BOUND_REQUEST_OVERHEAD + BOUND_MESSAGE_OVERHEAD + 2 * BOUND_BLOCK_OVERHEAD + 81
    assert bound_request(None, [{"role": "user", "content": [doc]}]) > 81


def test_the_estimate_counts_a_base64_image_by_its_size_and_others_flat():
    small = [{"role": "user", "content": [image_block(encoded("png", 300, 200))]}]
    url = [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://example.com/x.png"}}]}]
    base = estimate_request(None, [{"role": "user", "content": []}])
    assert estimate_request(None, small) - base == 81
    assert estimate_request(None, url) - base == MEDIA_TOKENS


# --- server tools ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("tools", "uses"), [
    (None, {}),
    ([{"name": "lookup", "input_schema": {"type": "object"}}], {}),
    ([{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}], {"web_search_requests": 3}),
    ([{"type": "web_search_20250305", "name": "web_search"}], {"web_search_requests": WEB_SEARCH_DEFAULT_USES}),
    ([{"type": "web_search_20250305", "name": "web_search", "max_uses": True}],
     {"web_search_requests": WEB_SEARCH_DEFAULT_USES}),
    ([{"type": "web_search_20250305", "name": "a", "max_uses": 2}, {"type": "web_search_20260209", "name": "b", "max_uses": 5},
      {"type": "web_fetch_20250910", "name": "web_fetch", "max_uses": 4}],
     {"web_search_requests": 7, "web_fetch_requests": 4}),
])
def test_server_tool_uses_a_request_may_be_billed_for(tools, uses):
    assert server_tool_uses(tools) == uses


def test_the_simulators_count_of_any_image_never_passes_the_bound():
    """The simulator reads images its own way (core/simulator/media.py): the guard's bound must hold over it."""
    import random

    from core.guards.tokens import bound_content
    from core.simulator.tokenizer import count_content

    rng = random.Random(20261202)
    for _ in range(30):
        fmt = rng.choice(sorted(FORMATS))
        # The API refuses a side over 8,000 px, and so does the simulator.
        w = rng.choice([rng.randint(1, 64), rng.randint(500, 1600), rng.randint(1568, 8000)])
        h = rng.randint(1, min(3000, 3_000_000 // w))  # up to 3 MP: past every scaling rule, yet quick to encode
        content = [image_block(encoded(fmt, w, h)), {"type": "text", "text": "and this?"}]
        for tokenizer in ("v1", "v2"):
            assert count_content(content, tokenizer) <= bound_content(content), (fmt, w, h)
