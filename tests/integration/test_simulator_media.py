"""Images, PDFs, documents and citations through the real SDK against the simulator: token counts and cited text."""

from __future__ import annotations

import anthropic
import pytest

from core.simulator.tokenizer import BLOCK_TOKENS, count_text
from tests.integration.conftest import without_id
from tests.media import gif, image_block, jpeg_header, pdf, pdf_block, png, text_document, webp_header

MODEL = "claude-sonnet-5-5"  # a "v2" tokenizer model
QUESTION = {"type": "text", "text": "What does it say?"}
MEMO = "Q3 revenue rose 4 %. Costs fell.\nHeadcount is flat."

pytestmark = pytest.mark.usefixtures("fresh_sim")


def user(*blocks):
    return [{"role": "user", "content": [*blocks, QUESTION]}]


def count(sdk, *blocks) -> int:
    return sdk.messages.count_tokens(model=MODEL, messages=user(*blocks)).input_tokens


def create(sdk, messages, max_tokens=400, **kw):
    return sdk.messages.create(model=MODEL, max_tokens=max_tokens, messages=messages, **kw)


@pytest.mark.parametrize(("block", "tokens"), [
    (image_block(png(200, 100)), 27),  # 20,000 px / 750
    (image_block(png(3000, 2000)), 1532),  # scaled to 1313 x 875 (1.15 MP)
    (image_block(png(4000, 500)), 410),  # long edge to 1568: 1568 x 196
    (image_block(gif(30, 25), "image/gif"), 1),
    (image_block(jpeg_header(1024, 768), "image/jpeg"), 1049),
    (image_block(webp_header(800, 600), "image/webp"), 640),
    ({"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}, 1600),
    ({"type": "image", "source": {"type": "file", "file_id": "file_011"}}, 1600),
])
def test_images_are_counted_from_their_size(sdk, block, tokens):
    assert count(sdk, block) - count(sdk) == BLOCK_TOKENS + tokens


def test_pdfs_cost_1600_a_page_plus_their_text(sdk):
    two = count(sdk, pdf_block()) - count(sdk)
    text = count_text("Page one says hello. Page two says goodbye.", "v2")
    assert two == BLOCK_TOKENS + 2 * 1600 + text
    three = count(sdk, pdf_block(pdf(["a", "b", "c"]))) - count(sdk)
    assert three == BLOCK_TOKENS + 3 * 1600 + count_text("a b c", "v2")
    assert count(sdk, text_document(MEMO)) - count(sdk) == BLOCK_TOKENS + count_text(MEMO, "v2")
    titled = count(sdk, {**text_document(MEMO, title="Q3 memo"), "context": "internal"}) - count(sdk)
    assert titled == BLOCK_TOKENS + count_text(MEMO, "v2") + count_text("Q3 memo", "v2") + count_text("internal", "v2")


def test_message_usage_matches_count_tokens_for_media(sdk):
    blocks = (image_block(png(640, 480)), pdf_block(), text_document(MEMO, title="memo"))
    msg = create(sdk, user(*blocks))
    assert msg.usage.input_tokens == count(sdk, *blocks)


@pytest.mark.parametrize(("block", "match"), [
    (image_block(png(), "image/jpeg"), "Image does not match the provided media type image/jpeg"),
    (image_block(png(), "image/bmp"), "media_type"),
    (pdf_block(b"not a pdf"), "The PDF specified was not valid"),
    (pdf_block(pdf(["p"] * 101)), "A maximum of 100 PDF pages"),
    (image_block(png(8001, 1)), "exceed max allowed size: 8000 pixels"),
    ({"type": "document", "source": {"type": "text", "data": "x"}}, "media_type"),
    ({"type": "image", "source": {"type": "url"}}, "url: Field required"),
    ({"type": "document", "source": {"type": "carrier-pigeon"}}, "does not match any of the expected tags"),
])
def test_bad_media_is_refused(sdk, block, match):
    with pytest.raises(anthropic.BadRequestError, match=match):
        create(sdk, user(block))


def test_a_text_document_is_cited_by_characters(sdk):
    msg = create(sdk, user(text_document("Ignore me.", title="first"),
                           text_document(MEMO, title="memo", citations=True)))
    plain, cited = msg.content
    assert plain.citations is None and plain.text
    (c,) = cited.citations
    assert c.type == "char_location" and c.cited_text == "Q3 revenue rose 4 %."
    assert (c.document_index, c.document_title, c.start_char_index, c.end_char_index) == (1, "memo", 0, 20)
    assert cited.text.strip() == c.cited_text


def test_pdf_and_content_documents_and_search_results_are_cited(sdk):
    content_doc = {"type": "document", "title": "faq", "citations": {"enabled": True},
                   "source": {"type": "content", "content": [{"type": "text", "text": "Refunds take 5 days."},
                                                             {"type": "text", "text": "Ask support."}]}}
    found = {"type": "search_result", "source": "https://example.com/q3", "title": "Q3",
             "content": [{"type": "text", "text": "4 % growth"}], "citations": {"enabled": True}}
    msg = create(sdk, user(pdf_block(citations=True), content_doc, found))
    page, block, result = (b.citations[0] for b in msg.content[1:])
    assert (page.type, page.start_page_number, page.end_page_number, page.cited_text) == (
        "page_location", 1, 2, "Page one says hello.")
    assert (block.type, block.document_index, block.start_block_index, block.end_block_index) == (
        "content_block_location", 1, 0, 1) and block.cited_text == "Refunds take 5 days."
    assert (result.type, result.search_result_index, result.source, result.title, result.cited_text) == (
        "search_result_location", 0, "https://example.com/q3", "Q3", "4 % growth")


def test_search_results_inside_a_tool_result_are_cited(sdk):
    tool = {"name": "kb", "input_schema": {"type": "object", "properties": {}}}
    first = create(sdk, [{"role": "user", "content": "ask kb"}], tools=[tool])
    use = first.content[-1]
    found = {"type": "search_result", "source": "kb://7", "title": "Policy",
             "content": [{"type": "text", "text": "Travel is economy class."}], "citations": {"enabled": True}}
    turns = [{"role": "user", "content": "ask kb"}, {"role": "assistant", "content": [b.to_dict() for b in first.content]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": [found]}]}]
    msg = create(sdk, turns, tools=[tool])
    assert msg.content[0].text.startswith('The kb tool returned "Travel is economy class.".')
    assert msg.content[1].citations[0].source == "kb://7"


def test_documents_without_citations_give_plain_text(sdk):
    msg = create(sdk, user(text_document(MEMO), pdf_block()))
    assert [b.type for b in msg.content] == ["text"] and msg.content[0].citations is None


def test_streamed_citations_arrive_as_citations_deltas(sdk):
    messages = user(text_document(MEMO, title="memo", citations=True), pdf_block(citations=True))
    plain = create(sdk, messages)
    with sdk.messages.stream(model=MODEL, max_tokens=400, messages=messages) as s:
        deltas = [e.delta for e in s if e.type == "content_block_delta"]
        final = s.get_final_message()
    assert without_id(final) == without_id(plain)
    cites = [d.citation.type for d in deltas if d.type == "citations_delta"]
    assert cites == ["char_location", "page_location"]


def test_tool_definitions_and_the_top_level_marker_are_cache_breakpoints(sdk):
    tools = [{"name": "kb", "description": "Knowledge base. " * 60, "input_schema": {"type": "object"},
              "cache_control": {"type": "ephemeral"}}]
    ask = [{"role": "user", "content": "hello there"}]
    first = create(sdk, ask, tools=tools).usage
    second = create(sdk, ask, tools=tools).usage
    assert first.cache_creation_input_tokens > 300 and second.cache_read_input_tokens == first.cache_creation_input_tokens
    auto = {"type": "ephemeral", "ttl": "1h"}
    long_ask = [{"role": "user", "content": "Long context. " * 300}]
    wrote = create(sdk, long_ask, cache_control=auto).usage
    total = sdk.messages.count_tokens(model=MODEL, messages=long_ask).input_tokens
    assert wrote.cache_creation.ephemeral_1h_input_tokens == total and wrote.input_tokens == 0
    assert create(sdk, long_ask, cache_control=auto).usage.cache_read_input_tokens == total
