"""Shared fixtures: the real metadata sheets, a data directory with synthetic images,
and a loopback OpenAI-compatible server."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from vscbench.data.layout import IMAGE_SHEET, TEXT_SHEET
from vscbench.data.sheets import load_sheets
from vscbench.testing import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VSCBENCH_SHARED_DATA", REPO.parent / "shared" / "data" / "vscbench"))
API_KEY_VAR = "FAKE_API_KEY"
API_KEY = "sk-test-do-not-log-4f9a1c"


@pytest.fixture(scope="session")
def sheets_dir() -> Path:
    if not (SHARED / IMAGE_SHEET).is_file():
        pytest.fail(
            f"the real metadata sheets are expected in {SHARED} (../shared beside the repo)"
        )
    return SHARED


def synthetic_image(path: Path) -> None:
    """A small image whose pixels (and so bytes) are unique to its file name."""
    digest = hashlib.sha256(path.name.encode()).digest()
    image = Image.new("RGB", (24, 16), tuple(digest[:3]))
    image.putpixel((0, 0), tuple(digest[3:6]))
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(path.suffix.lower(), "PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt)


@pytest.fixture(scope="session")
def full_data_dir(tmp_path_factory: pytest.TempPathFactory, sheets_dir: Path) -> Path:
    """The real sheets plus a synthetic file for every upstream photo they name.

    Typography, figstep and concat files are left out on purpose, so runs render them.
    """
    root = tmp_path_factory.mktemp("data")
    for name in (IMAGE_SHEET, TEXT_SHEET):
        shutil.copy(sheets_dir / name, root / name)
    for item in load_sheets(root).items:
        if item.image and (item.split == "image" or item.variant == "search"):
            target = root / item.image
            if not target.exists():
                synthetic_image(target)
    return root


@pytest.fixture()
def data_dir(full_data_dir: Path, tmp_path: Path) -> Path:
    """A private copy, for tests that write rendered images or break files."""
    root = tmp_path / "data"
    shutil.copytree(full_data_dir, root)
    return root


@pytest.fixture()
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture()
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(API_KEY_VAR, API_KEY)
    return API_KEY
