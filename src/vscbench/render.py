"""Regenerate the text-centric images that are pure functions of sheet text.

Upstream draws black monospace bold text on a white square (FigStep style). We draw the
same with DejaVu Sans Mono Bold, which ships inside the matplotlib wheel, so rendering
never depends on fonts installed on the machine. Output bytes are deterministic for a
given Pillow/FreeType build: no timestamps or metadata are written, and the layout is a
pure function of the text.

Layout (our choice within upstream's range): a 760×760 canvas, text wrapped at 15
characters, font size 80 shrunk in steps of 2 until the block fits inside the margins.
"""

from __future__ import annotations

import io
import textwrap
from functools import lru_cache
from importlib import resources
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

CANVAS = 760
MARGIN = 20
WRAP_WIDTH = 15
MAX_FONT_SIZE = 80
MIN_FONT_SIZE = 12
LINE_SPACING = 10
FONT_FILE = "DejaVuSansMono-Bold.ttf"


def font_path() -> Path:
    """The bundled monospace bold TTF (from matplotlib's package data)."""
    path = resources.files("matplotlib") / "mpl-data" / "fonts" / "ttf" / FONT_FILE
    return Path(str(path))


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path()), size)


def _fit(text: str) -> ImageFont.FreeTypeFont:
    """Largest font size at which the wrapped text fits on the canvas."""
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    for size in range(MAX_FONT_SIZE, MIN_FONT_SIZE - 1, -2):
        font = _font(size)
        left, top, right, bottom = probe.multiline_textbbox(
            (0, 0), text, font=font, spacing=LINE_SPACING
        )
        if right - left <= CANVAS - 2 * MARGIN and bottom - top <= CANVAS - 2 * MARGIN:
            return font
    return _font(MIN_FONT_SIZE)


def _text_image(text: str) -> Image.Image:
    font = _fit(text)
    image = Image.new("RGB", (CANVAS, CANVAS), "white")
    ImageDraw.Draw(image).multiline_text(
        (MARGIN, MARGIN), text, fill="black", font=font, spacing=LINE_SPACING
    )
    return image


def _wrap(text: str) -> str:
    return "\n".join(textwrap.wrap(text, width=WRAP_WIDTH)) or text


def typography_image(obj: str) -> Image.Image:
    """The ``object`` of a text-centric row, rendered as text."""
    return _text_image(_wrap(obj))


def figstep_image(instruction: str) -> Image.Image:
    """The FigStep instruction followed by an empty numbered list 1–3."""
    return _text_image(_wrap(instruction) + "\n1. \n2. \n3. ")


def concat_image(photo: Image.Image, obj: str) -> Image.Image:
    """The search photo with the typography image, scaled to its width, below it."""
    photo = photo.convert("RGB")
    typo = typography_image(obj)
    width = photo.width
    height = max(1, round(typo.height * width / typo.width))
    typo = typo.resize((width, height), Image.Resampling.LANCZOS)
    out = Image.new("RGB", (width, photo.height + height), "white")
    out.paste(photo, (0, 0))
    out.paste(typo, (0, photo.height))
    return out


def png_bytes(image: Image.Image) -> bytes:
    """Encode without metadata so equal pixels give equal bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()
