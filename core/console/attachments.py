"""Files attached to a playground message: checked, sized and turned into base64 image / document blocks.

The type is read from the file's first bytes, never from its name or the browser's MIME type. Limits
follow Anthropic's (images up to 5 MB and 8,000 px a side, PDFs up to 100 pages, requests up to 32 MB,
which base64 inflates by 4/3); a file past one is refused with a ``ValidationError`` in one line.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass

from core.errors import ValidationError
from core.guards import media

MB = 1024 * 1024
MAX_IMAGE_BYTES = 5 * MB
MAX_IMAGE_SIDE = 8000  # px
MAX_PDF_BYTES = 20 * MB
MAX_PDF_PAGES = 100
MAX_MESSAGE_BYTES = 20 * MB  # all of one message's files: 26.7 MB once base64, under the 32 MB request limit
MAX_FILES = 20
PDF_TOKENS_PER_PAGE = 1600  # each page goes in as an image too (1,500-3,000 tokens a page, text extra)
ACCEPTED = ("png", "jpg", "jpeg", "gif", "webp", "pdf")  # for the uploader's filter; the bytes decide


@dataclass(frozen=True)
class Attachment:
    """One checked file: what it is, its estimated input tokens, and the content block that carries it."""

    name: str
    media_type: str
    size: int  # bytes, before base64
    tokens: int  # estimate (Anthropic's formula), for the quote's breakdown
    detail: str  # "1200×800 px" or "3 pages"
    block: dict

    @property
    def kind(self) -> str:
        return "document" if self.media_type == "application/pdf" else "image"


def image_tokens(width: int, height: int) -> int:
    """Input tokens of a width×height image after the API scales it to 1,568 px and 1.15 MP (Anthropic's w*h/750)."""
    # The estimate, where core.guards.media.image_token_bound is the budget's upper bound for the same image.
    scale = min(1.0, media.MAX_EDGE_PX / max(width, height, 1), math.sqrt(media.MAX_PIXELS / max(width * height, 1)))
    return max(1, math.ceil(int(width * scale) * int(height * scale) / media.PIXELS_PER_TOKEN))


_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_COUNT = re.compile(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)|/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", re.S)


def pdf_pages(data: bytes) -> int:
    """Pages in a PDF: its page objects, else the page tree's /Count (compressed object streams), at least 1."""
    pages = len(_PAGE.findall(data))
    if pages:
        return pages
    counts = [int(a or b) for a, b in _COUNT.findall(data)]
    return max(counts, default=1) or 1


def _human(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB / 10 else f"{math.ceil(n / 1024)} KB"


def from_upload(name: str, data: bytes, *, cite: bool = False) -> Attachment:
    """A checked attachment from an uploaded file; ``cite`` asks for citations on a PDF."""
    media_type = media.sniff(data)
    if media_type is None:
        raise ValidationError(f"{name} is not a PNG, JPEG, GIF or WebP image or a PDF (judged by its "
                              "content, not its name).", field="attachments")
    encoded = base64.standard_b64encode(data).decode("ascii")
    if media_type == "application/pdf":
        if len(data) > MAX_PDF_BYTES:
            raise ValidationError(f"{name} is {_human(len(data))}; a PDF may be at most {_human(MAX_PDF_BYTES)}.",
                                  field="attachments")
        if re.search(rb"/Encrypt\b", data):
            raise ValidationError(f"{name} is an encrypted PDF: the API cannot read it. Save it without a "
                                  "password first.", field="attachments")
        pages = pdf_pages(data)
        if pages > MAX_PDF_PAGES:
            raise ValidationError(f"{name} has {pages} pages; a PDF may have at most {MAX_PDF_PAGES}.",
                                  field="attachments")
        block = {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": encoded},
                 "title": name[:200]}
        if cite:
            block["citations"] = {"enabled": True}
        return Attachment(name, media_type, len(data), pages * PDF_TOKENS_PER_PAGE,
                          f"{pages} page{'s' if pages != 1 else ''}", block)
    if len(data) > MAX_IMAGE_BYTES:
        raise ValidationError(f"{name} is {_human(len(data))}; an image may be at most {_human(MAX_IMAGE_BYTES)}.",
                              field="attachments")
    size = media.image_size(data)  # from the header, as the budget's bound reads it
    if size is None or min(size) < 1:
        raise ValidationError(f"{name} looks like {media_type} but its header cannot be read: is the file "
                              "damaged?", field="attachments")
    w, h = size
    if max(w, h) > MAX_IMAGE_SIDE:
        raise ValidationError(f"{name} is {w}×{h} px; an image may be at most {MAX_IMAGE_SIDE:,} px a side.",
                              field="attachments")
    block = {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": encoded}}
    return Attachment(name, media_type, len(data), image_tokens(w, h), f"{w}×{h} px", block)


def check_message(files: list[Attachment]) -> None:
    """Refuse a message whose files together pass the per-message limits."""
    if len(files) > MAX_FILES:
        raise ValidationError(f"{len(files)} files attached; a message may carry at most {MAX_FILES}.",
                              field="attachments")
    total = sum(f.size for f in files)
    if total > MAX_MESSAGE_BYTES:
        raise ValidationError(f"The attached files come to {_human(total)}; one message may carry at most "
                              f"{_human(MAX_MESSAGE_BYTES)} (the API takes 32 MB a request, base64 included).",
                              field="attachments")
