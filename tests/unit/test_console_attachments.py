"""Playground attachments: the type from the bytes, the size from the header, one clear line past a limit."""

from __future__ import annotations

import base64

import pytest

from core.console import attachments
from core.errors import ValidationError
from tests.media import pdf
from tests.playground_files import image


@pytest.mark.parametrize(("fmt", "media_type", "save"), [
    ("PNG", "image/png", {}), ("JPEG", "image/jpeg", {}), ("JPEG", "image/jpeg", {"progressive": True}),
    ("GIF", "image/gif", {}), ("WEBP", "image/webp", {}), ("WEBP", "image/webp", {"lossless": True}),
])
def test_an_image_becomes_a_base64_block_sized_from_its_header(fmt, media_type, save):
    data = image(1234, 567, fmt, **save)
    a = attachments.from_upload("picture.bin", data)  # the name says nothing: the bytes decide
    assert a.media_type == media_type and a.kind == "image" and a.detail == "1234×567 px"
    assert a.block == {"type": "image", "source": {"type": "base64", "media_type": media_type,
                                                   "data": base64.b64encode(data).decode()}}
    assert a.tokens == attachments.image_tokens(1234, 567) == -(-1234 * 567 // 750)


@pytest.mark.parametrize(("w", "h", "tokens"), [(1000, 1000, 1334), (200, 200, 54),
                                                (4000, 3000, 1532),  # scaled to 1238×928 first
                                                (3136, 100, 105)])  # long edge 1568: 1568×50
def test_image_tokens_follow_anthropics_scaling(w, h, tokens):
    assert attachments.image_tokens(w, h) == tokens


def test_a_pdf_becomes_a_document_block_with_its_pages_and_optional_citations():
    data = pdf(["Page one", "Page two", "Page three"])
    a = attachments.from_upload("report.pdf", data)
    assert a.kind == "document" and a.detail == "3 pages" and a.tokens == 3 * attachments.PDF_TOKENS_PER_PAGE
    assert a.block["source"] == {"type": "base64", "media_type": "application/pdf",
                                 "data": base64.b64encode(data).decode()}
    assert a.block["title"] == "report.pdf" and "citations" not in a.block
    assert attachments.from_upload("report.pdf", data, cite=True).block["citations"] == {"enabled": True}


def test_page_count_falls_back_to_the_page_tree_count():
    packed = b"%PDF-1.7\n1 0 obj << /Type /Pages /Kids [] /Count 7 >> endobj\n%%EOF"  # pages in object streams
    assert attachments.pdf_pages(packed) == 7
    assert attachments.pdf_pages(b"%PDF-1.7\n%%EOF") == 1


@pytest.mark.parametrize(("name", "data", "says"), [
    ("notes.txt", b"just some text", "is not a PNG, JPEG, GIF or WebP image or a PDF"),
    ("fake.png", b"\x89PNG\r\n\x1a\nshort", "header cannot be read"),
    ("huge.png", image(9000, 10, "PNG"), "at most 8,000 px a side"),
    ("big.gif", b"GIF89a\x10\x00\x10\x00" + bytes(attachments.MAX_IMAGE_BYTES), "an image may be at most 5.0 MB"),
    ("locked.pdf", b"%PDF-1.4\ntrailer << /Encrypt 5 0 R >>\n%%EOF", "encrypted PDF"),
    ("long.pdf", pdf(["p"] * (attachments.MAX_PDF_PAGES + 1)), "has 101 pages; a PDF may have at most 100"),
])
def test_a_file_past_a_limit_is_refused_in_one_line(name, data, says):
    with pytest.raises(ValidationError) as exc:
        attachments.from_upload(name, data)
    assert says in exc.value.message and name in exc.value.message and "\n" not in exc.value.message
    assert exc.value.field == "attachments"


def test_a_message_may_carry_only_so_much():
    one = attachments.from_upload("a.png", image(10, 10))
    attachments.check_message([one] * attachments.MAX_FILES)
    with pytest.raises(ValidationError, match="at most 20"):
        attachments.check_message([one] * (attachments.MAX_FILES + 1))
    big = attachments.Attachment("big.pdf", "application/pdf", 15 * attachments.MB, 1600, "1 page", {})
    with pytest.raises(ValidationError, match="come to 30.0 MB; one message may carry at most 20.0 MB"):
        attachments.check_message([big, big])
