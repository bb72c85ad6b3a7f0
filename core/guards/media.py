"""Offline token figures for images: pixel size read from a base64 image's header, then Anthropic's rule.

Anthropic scales an image to at most 1568 px on its long edge and about 1.15 megapixels, then
bills about width*height/750 tokens, so no image costs more than ~1,600. Only the header is
decoded (the first few KiB; a JPEG's frame header may need more), so a 5 MB image costs
microseconds. An image whose size cannot be read is taken at that per-image maximum.
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
IMAGE_MAX_TOKENS = 1600  # the most one image can cost, whatever its size: what an unreadable one counts as
_HEAD_CHARS = 4096  # base64 characters decoded first: every format's size is in there but a JPEG's may not be
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]")


def _decode(data: str, chars: int | None) -> bytes | None:
    """The bytes of the first ``chars`` base64 characters (all when None), or None when not base64."""
    text = _NOT_BASE64.sub("", data if chars is None else data[:chars + chars // 8])
    if chars is not None:
        text = text[:chars]
    text = text[:len(text) - len(text) % 4]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _jpeg_size(raw: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame segment, walking the segments before it."""
    i = 2
    while i + 9 <= len(raw):
        if raw[i] != 0xFF:
            return None
        marker = raw[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", raw[i + 2:i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn: height then width
            height, width = struct.unpack(">HH", raw[i + 5:i + 9])
            return width, height
        i += 2 + length
    return None


def _webp_size(raw: bytes) -> tuple[int, int] | None:
    chunk = raw[12:16]
    if chunk == b"VP8 " and len(raw) >= 30:
        w, h = struct.unpack("<HH", raw[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(raw) >= 25:
        b0, b1, b2, b3 = raw[21:25]
        return 1 + (b0 | (b1 & 0x3F) << 8), 1 + (b1 >> 6 | b2 << 2 | (b3 & 0x0F) << 10)
    if chunk == b"VP8X" and len(raw) >= 30:
        return int.from_bytes(raw[24:27], "little") + 1, int.from_bytes(raw[27:30], "little") + 1
    return None


def sniff(data: bytes) -> str | None:
    """The media type the bytes say, or None for anything but PNG, JPEG, GIF, WebP or PDF."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if b"%PDF-" in data[:1024]:
        return "application/pdf"
    return None


def image_size(raw: bytes) -> tuple[int, int] | None:
    """(width, height) in pixels from PNG, GIF, WebP or JPEG bytes; None when they cannot be read."""
    try:
        if raw.startswith(b"\x89PNG\r\n\x1a\n") and raw[12:16] == b"IHDR":
            return struct.unpack(">II", raw[16:24])
        if raw[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", raw[6:10])
        if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
            return _webp_size(raw)
        if raw.startswith(b"\xff\xd8"):
            return _jpeg_size(raw)
    except struct.error:
        return None
    return None


def base64_image_size(data: str) -> tuple[int, int] | None:
    """The pixel size of a base64 image from its header; a JPEG whose frame header is deep is read whole."""
    if not isinstance(data, str):
        return None
    head = _decode(data, _HEAD_CHARS)
    if not head:
        return None
    size = image_size(head)
    if size is None and head.startswith(b"\xff\xd8") and len(data) > _HEAD_CHARS:
        whole = _decode(data, None)
        size = image_size(whole) if whole else None
    return size


def image_token_bound(width: int, height: int) -> int:
    """The most tokens an image of this size is billed: w*h/750 after scaling, allowing for the
    scaled sides to be rounded up a pixel each; never more than the per-image maximum."""
    if width <= 0 or height <= 0:
        return IMAGE_MAX_TOKENS
    factor = min(1.0, MAX_EDGE_PX / max(width, height), math.sqrt(MAX_PIXELS / (width * height)))
    w, h = width * factor, height * factor
    return min(IMAGE_MAX_TOKENS, math.ceil((w + 1) * (h + 1) / PIXELS_PER_TOKEN))


def image_source_tokens(source) -> int | None:
    """Tokens an image block's ``source`` can cost: from its header when base64 (the per-image maximum
    when unreadable); None for a url or file source, which cannot be looked at offline."""
    if not isinstance(source, dict) or source.get("type") != "base64":
        return None
    size = base64_image_size(source.get("data"))
    return IMAGE_MAX_TOKENS if size is None else image_token_bound(*size)
