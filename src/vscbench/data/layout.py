"""Where the benchmark's files live: pinned sources, checksums and the on-disk layout.

The layout is upstream's own, so a directory prepared by hand from the authors'
release works unchanged; rendered images go to a separate folder so upstream files are
never overwritten.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vscbench.paths import user_cache

UPSTREAM_REPO = "jiahuigeng/VSCBench"
UPSTREAM_COMMIT = "426fa1f5b3ccce639ac5cbc593d887f166fc12d9"
RAW_BASE = f"https://raw.githubusercontent.com/{UPSTREAM_REPO}/{UPSTREAM_COMMIT}"

IMAGE_SHEET = "vscbench_image_centric.xlsx"
TEXT_SHEET = "vscbench_text_centric.xlsx"
IMAGE_DIR = "vscbench_image_centric_images"
TEXT_DIR = "vscbench_text_centric_images"
RENDER_DIR = "vscbench_rendered"

#: Google Drive file id of the authors' image archive.
IMAGES_DRIVE_ID = "1U6l3XvoInLJeQTMcmjySADvmwUs3ifnG"
IMAGES_URL = (
    f"https://drive.usercontent.google.com/download?id={IMAGES_DRIVE_ID}&export=download&confirm=t"
)


@dataclass(frozen=True)
class SheetSpec:
    name: str
    sha256: str
    rows: int

    @property
    def url(self) -> str:
        return f"{RAW_BASE}/{self.name}"


SHEETS: dict[str, SheetSpec] = {
    "image": SheetSpec(
        IMAGE_SHEET, "f33fc4d9622e93cf2710c27586bc059ea1d93385f7c7d93a0d2d9c6e82f568ee", 300
    ),
    "text": SheetSpec(
        TEXT_SHEET, "dbac4ced24a41ffdef3b8c0297cabb2575b6d28b07f833966b0ce4f2cfd9d08b", 450
    ),
}

ENV_DATA_DIR = "VSCBENCH_DATA"


def default_data_dir() -> Path:
    """Per-user cache directory (``VSCBENCH_DATA`` overrides it)."""
    return user_cache("data", env=ENV_DATA_DIR)


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    return Path(data_dir).expanduser() if data_dir else default_data_dir()


def fetch_hint(data_dir: Path) -> str:
    """What to put where when automatic download is impossible."""
    return (
        f"Put the files in {data_dir} by hand:\n"
        f"  {data_dir / IMAGE_SHEET}   <- {SHEETS['image'].url}\n"
        f"  {data_dir / TEXT_SHEET}    <- {SHEETS['text'].url}\n"
        f"  {data_dir / IMAGE_DIR}/<category>/<file>\n"
        f"  {data_dir / TEXT_DIR}/{{search,typography,concat,figstep}}/<file>\n"
        "     <- unpack the image archive from "
        f"https://drive.google.com/file/d/{IMAGES_DRIVE_ID}/view\n"
        "Then run `vscbench data verify`. Without the archive, the text-centric txt, "
        "typography and figstep variants still run (their images are rendered)."
    )
