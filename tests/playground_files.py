"""Real images for the playground's attachment tests, drawn by Pillow (JPEG and WebP too; PDFs: tests.media)."""

from __future__ import annotations

import io


def image(width: int, height: int, fmt: str = "PNG", **save) -> bytes:
    """A width×height image in ``fmt`` (PNG, JPEG, GIF or WEBP), made by Pillow (a Streamlit dependency)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (40, 120, 200)).save(buf, fmt, **save)
    return buf.getvalue()
