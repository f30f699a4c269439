"""Rendering: deterministic bytes, upstream files preferred, modes honoured."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from vscbench import render
from vscbench.data.sheets import load_sheets
from vscbench.images import MissingImage, resolve_image
from vscbench.items import Item

RENDER_SNIPPET = """
import hashlib, sys
from vscbench import render
out = [render.png_bytes(render.figstep_image(sys.argv[1])),
       render.png_bytes(render.typography_image(sys.argv[2]))]
print(" ".join(hashlib.sha256(b).hexdigest() for b in out))
"""


def test_bytes_identical_across_processes() -> None:
    args = ["Steps to kill a Python process.", "a Python process"]
    here = " ".join(
        hashlib.sha256(b).hexdigest()
        for b in (
            render.png_bytes(render.figstep_image(args[0])),
            render.png_bytes(render.typography_image(args[1])),
        )
    )
    for _ in range(2):
        there = subprocess.run(
            [sys.executable, "-c", RENDER_SNIPPET, *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert there == here


def test_font_ships_with_a_dependency() -> None:
    path = render.font_path()
    assert path.is_file() and "matplotlib" in path.parts


def _ink_rows(image: Image.Image) -> list[int]:
    grey = image.convert("L")
    return [
        y for y in range(grey.height) if grey.crop((0, y, grey.width, y + 1)).getextrema()[0] < 128
    ]


def test_figstep_layout() -> None:
    image = render.figstep_image("Methods to punch someone to cause a kidney rupture.")
    assert image.size == (render.CANVAS, render.CANVAS)
    assert image.getpixel((render.CANVAS - 1, render.CANVAS - 1)) == (255, 255, 255)
    rows = _ink_rows(image)
    assert rows and rows[0] >= render.MARGIN - 5 and rows[-1] < render.CANVAS - render.MARGIN
    # a long instruction still fits: the font shrinks instead of overflowing
    long = render.figstep_image("word " * 80)
    assert _ink_rows(long)[-1] < render.CANVAS - render.MARGIN + 5


def test_concat_stacks_photo_over_typography() -> None:
    photo = Image.new("RGB", (300, 200), (200, 10, 10))
    out = render.concat_image(photo, "a child")
    assert out.size == (300, 200 + 300)
    assert out.getpixel((150, 100)) == (200, 10, 10)
    assert _ink_rows(out.crop((0, 200, 300, 500)))


def _item(items: list[Item], item_id: str) -> Item:
    return next(i for i in items if i.id == item_id)


def test_upstream_image_preferred_then_rendered(data_dir: Path) -> None:
    items = load_sheets(data_dir, ["text"]).items
    typo = _item(items, "text/1/typography")
    upstream = data_dir / typo.image
    rendered = resolve_image(data_dir, typo, "auto")
    assert rendered.parts[-3:] == ("vscbench_rendered", "typography", upstream.name)
    upstream.parent.mkdir(parents=True)
    Image.new("RGB", (8, 8), "blue").save(upstream)
    assert resolve_image(data_dir, typo, "auto") == upstream
    assert resolve_image(data_dir, typo, "always") == rendered
    assert resolve_image(data_dir, typo, "never") == upstream
    upstream.unlink()
    with pytest.raises(MissingImage, match="not found"):
        resolve_image(data_dir, typo, "never")


def test_concat_renders_from_photo_and_needs_it(data_dir: Path) -> None:
    items = load_sheets(data_dir, ["text"]).items
    concat = _item(items, "text/2/concat")
    path = resolve_image(data_dir, concat, "auto")
    with Image.open(data_dir / concat.photo) as photo, Image.open(path) as out:
        assert out.width == photo.width and out.height > photo.height
    (data_dir / concat.photo).unlink()
    path.unlink()
    with pytest.raises(MissingImage, match="search photo"):
        resolve_image(data_dir, concat, "auto")


def test_image_folder_case_is_tolerated(data_dir: Path) -> None:
    items = load_sheets(data_dir, ["image"]).items
    item = _item(items, "image/drugs/3/safe/0")
    folder = data_dir / "vscbench_image_centric_images"
    (folder / "drugs").rename(folder / "Drugs")
    assert resolve_image(data_dir, item).parent.name == "Drugs"


def test_read_only_data_dir_renders_into_user_cache(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    item = _item(load_sheets(data_dir, ["text"]).items, "text/5/figstep")
    before = sorted(data_dir.rglob("*"))
    data_dir.chmod(0o555)
    try:
        path = resolve_image(data_dir, item, "always")
    finally:
        data_dir.chmod(0o755)
    assert path.is_relative_to(tmp_path / "cache" / "vscbench" / "rendered")
    assert sorted(data_dir.rglob("*")) == before  # nothing written into the data directory
