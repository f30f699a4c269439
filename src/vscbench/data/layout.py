"""Where the benchmark's files live: pinned sources, checksums and the on-disk layout.

The layout is upstream's own, so a directory prepared by hand from the authors'
release works unchanged; rendered images go to a separate folder so upstream files are
never overwritten.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from vscbench.paths import user_cache

UPSTREAM_REPO = "jiahuigeng/VSCBench"
UPSTREAM_COMMIT = "426fa1f5b3ccce639ac5cbc593d887f166fc12d9"
RAW_BASE = f"https://raw.githubusercontent.com/{UPSTREAM_REPO}/{UPSTREAM_COMMIT}"
#: Replaces RAW_BASE for the sheets: a mirror, or a loopback server in tests and CI.
ENV_BASE_URL = "VSCBENCH_DATA_BASE_URL"

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
class PinnedFiles:
    """Files pinned by name and sha256 under one base URL that ``base_env`` can replace.

    The checksums are the pin, not the URL: a mirror, or a loopback server in tests and
    CI, serves as well as upstream, and a file that differs by one byte is refused.
    """

    what: str  #: how messages name the set, e.g. "the VSCBench metadata sheets (...)"
    files: Mapping[str, str]  #: file name -> sha256
    base_url: str  #: the pinned upstream folder
    base_env: str  #: variable whose value replaces ``base_url``

    @property
    def base(self) -> str:
        """Where downloads come from now: ``$base_env`` if set, else ``base_url``."""
        return (os.environ.get(self.base_env) or self.base_url).rstrip("/")

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def missing(self, folder: Path) -> list[str]:
        """The files not in ``folder`` (presence only; downloads check the sha256)."""
        return [name for name in self.files if not (folder / name).is_file()]


@dataclass(frozen=True)
class SheetSpec:
    name: str
    sha256: str
    rows: int

    @property
    def url(self) -> str:
        return SHEET_FILES.url(self.name)


SHEETS: dict[str, SheetSpec] = {
    "image": SheetSpec(
        IMAGE_SHEET, "f33fc4d9622e93cf2710c27586bc059ea1d93385f7c7d93a0d2d9c6e82f568ee", 300
    ),
    "text": SheetSpec(
        TEXT_SHEET, "dbac4ced24a41ffdef3b8c0297cabb2575b6d28b07f833966b0ce4f2cfd9d08b", 450
    ),
}

SHEET_FILES = PinnedFiles(
    f"the VSCBench metadata sheets ({IMAGE_SHEET}, {TEXT_SHEET})",
    {spec.name: spec.sha256 for spec in SHEETS.values()},
    RAW_BASE,
    ENV_BASE_URL,
)

ENV_DATA_DIR = "VSCBENCH_DATA"


class DataError(ValueError):
    """The data cannot be used as it is; the message says where and why."""


def default_data_dir() -> Path:
    """Per-user cache directory (``VSCBENCH_DATA`` overrides it)."""
    return user_cache("data", env=ENV_DATA_DIR)


def resolve_data_dir(data_dir: str | os.PathLike[str] | None, must_exist: bool = True) -> Path:
    """The data directory: ``data_dir``, else ``$VSCBENCH_DATA``, else the user cache.

    A directory the user named (flag or variable) must exist: a typo would otherwise be
    created empty and filled by a download the user never asked for. Only the default
    cache is created on demand, and ``vscbench data fetch`` may create a named one
    (``must_exist=False``).
    """
    if data_dir:
        path, source = Path(data_dir).expanduser(), "--data-dir"
    elif os.environ.get(ENV_DATA_DIR):
        path, source = Path(os.environ[ENV_DATA_DIR]).expanduser(), ENV_DATA_DIR
    else:
        return default_data_dir()
    if must_exist and not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise DataError(
            f"{source} {path} {what}. Point it at the directory that holds {IMAGE_SHEET} "
            f"and {TEXT_SHEET}, or create one with `vscbench data fetch --data-dir {path}`."
        )
    return path


#: What to do when the files are already on this machine (said before any URL).
LOCAL_DATA_HINT = (
    "If you already have the files, point vscbench at their directory: "
    f"--data-dir DIR or export {ENV_DATA_DIR}=DIR (the folder holding {IMAGE_SHEET} "
    f"and {TEXT_SHEET})."
)


def fetch_hint(data_dir: Path, local: bool = True) -> str:
    """What to put where when automatic download is impossible (``local``: first say how
    to use files already on this machine)."""
    return (
        (f"{LOCAL_DATA_HINT}\nOtherwise put" if local else "Put")
        + f" them in {data_dir} by hand:\n"
        f"  {data_dir / IMAGE_SHEET}   <- {SHEETS['image'].url}\n"
        f"  {data_dir / TEXT_SHEET}    <- {SHEETS['text'].url}\n"
        f"  {data_dir / IMAGE_DIR}/<category>/<file>\n"
        f"  {data_dir / TEXT_DIR}/{{search,typography,concat,figstep}}/<file>\n"
        "     <- unpack the image archive from "
        f"https://drive.google.com/file/d/{IMAGES_DRIVE_ID}/view\n"
        "Then run `vscbench data verify`. Without the archive, the text-centric txt, "
        "typography and figstep variants still run (their images are rendered)."
    )


def locate(data_dir: Path, relative: str) -> Path | None:
    """Find ``relative`` under ``data_dir``, tolerating a different case of folder names.

    Hand-unpacked archives differ in the case of category folders (``Drugs`` vs
    ``drugs``); the file names themselves must match exactly.
    """
    exact = data_dir / relative
    if exact.is_file():
        return exact
    current = data_dir
    for part in Path(relative).parts[:-1]:
        candidate = current / part
        if not candidate.is_dir():
            if not current.is_dir():
                return None
            wanted = part.lower()
            matches = [p for p in current.iterdir() if p.is_dir() and p.name.lower() == wanted]
            if not matches:
                return None
            candidate = matches[0]
        current = candidate
    found = current / Path(relative).name
    return found if found.is_file() else None


def check_image(path: Path) -> str | None:
    """``None`` if ``path`` decodes as an image, else why not."""
    try:
        with Image.open(path) as image:
            image.load()
    except Exception as exc:  # Pillow raises many types for corrupt files
        return f"{type(exc).__name__}: {exc}"
    return None
