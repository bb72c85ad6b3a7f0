"""Small media built in code for tests: a valid PNG of any size, image headers, a multi-page PDF, and their blocks.

Importable by any test (``from tests.media import png, pdf, image_block, pdf_block``); nothing is read from disk.
"""

from __future__ import annotations

import base64
import struct
import zlib


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A complete, valid RGB PNG of one colour (any viewer opens it)."""
    row = b"\x00" + bytes(rgb) * width  # filter byte 0, then the pixels
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(row * height)) + _png_chunk(b"IEND", b""))


def gif(width: int = 1, height: int = 1) -> bytes:
    """A valid one-colour GIF89a (a single 1x1 image stretched over a ``width`` x ``height`` screen)."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\xff\x00\x00\x00\x00\x00"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return screen + image + b"\x3b"


def jpeg_header(width: int, height: int) -> bytes:
    """The start of a baseline JPEG (SOI, APP0, SOF0) carrying the size: enough for size detection, not a picture."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def webp_header(width: int, height: int) -> bytes:
    """A RIFF/WEBP file with a VP8X chunk carrying the size: enough for size detection, not a picture."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") \
        + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf(pages: list[str] | None = None) -> bytes:
    """A valid PDF with one page per string, each showing its string in Helvetica (uncompressed streams)."""
    pages = pages if pages is not None else ["Page one says hello.", "Page two says goodbye."]
    n = len(pages)
    objects = ["<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{' '.join(f'{3 + 2 * i} 0 R' for i in range(n))}] /Count {n} >>"]
    for i, text in enumerate(pages):
        stream = f"BT /F1 18 Tf 72 720 Td ({_pdf_escape(text)}) Tj ET"
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
                       f"/Resources << /Font << /F1 {3 + 2 * n} 0 R >> >> >>")
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def image_block(data: bytes | None = None, media_type: str = "image/png", **extra) -> dict:
    """An image content block with a base64 source (a 2x2 PNG unless given bytes)."""
    raw = png() if data is None else data
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": b64(raw)}, **extra}


def pdf_block(data: bytes | None = None, *, citations: bool = False, **extra) -> dict:
    """A document block with a base64 PDF source (the two-page PDF unless given bytes)."""
    block = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                            "data": b64(pdf() if data is None else data)}, **extra}
    if citations:
        block["citations"] = {"enabled": True}
    return block


def text_document(text: str, *, title: str | None = None, citations: bool = False) -> dict:
    """A document block with a plain-text source."""
    block = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}}
    if title is not None:
        block["title"] = title
    if citations:
        block["citations"] = {"enabled": True}
    return block
