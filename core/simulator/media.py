"""Images and PDFs as the simulator reads them: pixel size from an image's header, pages and text of a PDF.

Anthropic bills an image about w*h/750 tokens once it is scaled to at most 1568 px on its long edge
and about 1.15 megapixels, and a PDF page about 1,600 tokens plus its text; the simulator does the
same from the bytes it is sent, so a client's estimate can be checked against a plausible figure.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct

MAX_EDGE_PX = 1568
MAX_PIXELS = 1_150_000
PIXELS_PER_TOKEN = 750
UNREAD_MEDIA_TOKENS = 1600  # an image or page the simulator cannot see (url or file source, odd bytes)
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")

_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
_COUNT = re.compile(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)|/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", re.S)
_TJ = re.compile(rb"\(((?:\\.|[^\\)])*)\)\s*Tj|\[((?:\\.|[^\]])*)\]\s*TJ", re.S)
_TJ_PART = re.compile(rb"\(((?:\\.|[^\\)])*)\)", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def decode_base64(data: str) -> bytes | None:
    """The bytes of a base64 string, or None when it is not base64."""
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError, TypeError):
        return None


def sniff_image(raw: bytes) -> str | None:
    """The media type an image's magic bytes declare, or None when they are no image format the API takes."""
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if raw.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if raw[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_size(raw: bytes) -> tuple[int, int] | None:
    """(width, height) in pixels from a PNG, JPEG, GIF or WebP header; None when it cannot be read."""
    kind = sniff_image(raw)
    try:
        if kind == "image/png" and raw[12:16] == b"IHDR":
            return struct.unpack(">II", raw[16:24])
        if kind == "image/gif":
            return struct.unpack("<HH", raw[6:10])
        if kind == "image/jpeg":
            return _jpeg_size(raw)
        if kind == "image/webp":
            return _webp_size(raw)
    except struct.error:
        return None
    return None


def _jpeg_size(raw: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(raw):
        if raw[i] != 0xFF:
            return None
        marker = raw[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", raw[i + 2:i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame segment
            height, width = struct.unpack(">HH", raw[i + 5:i + 9])
            return width, height
        i += 2 + length
    return None


def _webp_size(raw: bytes) -> tuple[int, int] | None:
    chunk = raw[12:16]
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", raw[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":
        b0, b1, b2, b3 = raw[21:25]
        return 1 + (b0 | (b1 & 0x3F) << 8), 1 + (b1 >> 6 | b2 << 2 | (b3 & 0x0F) << 10)
    if chunk == b"VP8X":
        w = int.from_bytes(raw[24:27], "little") + 1
        h = int.from_bytes(raw[27:30], "little") + 1
        return w, h
    return None


def scaled_size(width: int, height: int) -> tuple[int, int]:
    """The size the API resizes an image to: long edge at most 1568 px and at most ~1.15 megapixels."""
    if width <= 0 or height <= 0:
        return 0, 0
    factor = min(1.0, MAX_EDGE_PX / max(width, height), math.sqrt(MAX_PIXELS / (width * height)))
    return max(1, int(width * factor)), max(1, int(height * factor))


def image_tokens(width: int, height: int) -> int:
    """Tokens for an image of this size: w*h/750 after scaling, rounded up (at least 1)."""
    w, h = scaled_size(width, height)
    return max(1, math.ceil(w * h / PIXELS_PER_TOKEN))


def image_block_tokens(source) -> int:
    """Tokens of an image block's source: read from the header when base64, else the flat 1,600."""
    if not isinstance(source, dict) or source.get("type") != "base64":
        return UNREAD_MEDIA_TOKENS
    raw = decode_base64(source.get("data") or "")
    size = image_size(raw) if raw else None
    return image_tokens(*size) if size else UNREAD_MEDIA_TOKENS


def is_pdf(raw: bytes | None) -> bool:
    return bool(raw) and raw.lstrip()[:5] == b"%PDF-"


def pdf_pages(raw: bytes) -> int:
    """Pages in a PDF: its /Type /Page objects, else the page tree's /Count, and at least one."""
    pages = len(_PAGE.findall(raw))
    if pages:
        return pages
    counts = [int(a or b) for a, b in _COUNT.findall(raw)]
    return max([1, *counts])


def _unescape(literal: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(literal):
        ch = literal[i:i + 1]
        if ch == b"\\" and i + 1 < len(literal):
            nxt = literal[i + 1:i + 2]
            out += _ESCAPES.get(nxt, nxt)
            i += 2
            continue
        out += ch
        i += 1
    return bytes(out)


def pdf_text(raw: bytes) -> list[str]:
    """The text a PDF shows with Tj/TJ in uncompressed content streams, one string per show, in file order.

    Compressed streams are not inflated: their text is simply not seen (the page tokens still count).
    """
    shown = []
    for single, array in _TJ.findall(raw):
        parts = [single] if single else _TJ_PART.findall(array)
        text = b"".join(_unescape(p) for p in parts).decode("latin-1").strip()
        if text:
            shown.append(text)
    return shown
