"""Decide which image file a pair is sent with, rendering it when the release lacks it.

A run prefers the authors' own image; it renders a text-centric ``typography``,
``figstep`` or ``concat`` image only when that file is missing (mode ``auto``), always
(``always``), or never (``never``). Rendered files live under ``vscbench_rendered/`` in
the data directory, beside (never over) upstream files.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from vscbench import render
from vscbench.config import RENDER_MODES, RenderMode
from vscbench.data.layout import RENDER_DIR, check_image, locate
from vscbench.files import write_bytes_atomic, write_json_atomic
from vscbench.items import RENDERED_VARIANTS, Item
from vscbench.paths import user_cache
from vscbench.progress import Progress

__all__ = [
    "RENDER_MODES",
    "MissingImage",
    "RenderMode",
    "check_image",
    "locate",
    "render_item",
    "resolve_image",
]


class MissingImage(LookupError):
    """No usable image for an item; the message says which file and why."""


def render_root(data_dir: Path) -> Path:
    """Where rendered images go: the data directory, or a user cache if it is read-only.

    A read-only data directory (a shared mount, a packaged copy) still runs; its renders
    land in a cache folder keyed by the directory's path.
    """
    # honour the permission bits even for root, who could write regardless
    if os.access(data_dir, os.W_OK) and data_dir.stat().st_mode & 0o222:
        return data_dir
    key = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return user_cache("rendered", key)


def rendered_path(data_dir: Path, item: Item) -> Path:
    assert item.image is not None
    return render_root(data_dir) / RENDER_DIR / item.variant / Path(item.image).name


def render_item(data_dir: Path, item: Item, overwrite: bool = False) -> Path:
    """Write the rendered image of a typography/figstep/concat item and return its path."""
    if item.variant not in RENDERED_VARIANTS or item.render_text is None:
        raise MissingImage(f"{item.id}: the {item.variant} image cannot be rendered")
    target = rendered_path(data_dir, item)
    if target.is_file() and not overwrite:
        return target
    if item.variant == "typography":
        image = render.typography_image(item.render_text)
    elif item.variant == "figstep":
        image = render.figstep_image(item.render_text)
    else:
        photo_path = locate(data_dir, item.photo) if item.photo else None
        if photo_path is None:
            raise MissingImage(
                f"{item.id}: concat image {item.image} is missing and cannot be rendered "
                f"without the search photo {item.photo}"
            )
        with Image.open(photo_path) as photo:
            image = render.concat_image(photo, item.render_text)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(target, render.png_bytes(image))
    return target


def resolve_image(data_dir: Path, item: Item, mode: RenderMode = "auto") -> Path | None:
    """The file ``item`` is sent with (``None`` for text-only items).

    Raises :class:`MissingImage` when there is none and it cannot be rendered.
    """
    if item.image is None:
        return None
    renderable = item.variant in RENDERED_VARIANTS and mode != "never"
    if mode != "always" or not renderable:
        found = locate(data_dir, item.image)
        if found is not None:
            return found
    if renderable:
        return render_item(data_dir, item)
    raise MissingImage(f"{item.id}: image file {data_dir / item.image} not found")


def _decode_key(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def undecodable(paths: Iterable[Path]) -> dict[Path, str]:
    """The images among ``paths`` that do not decode, each with why.

    Every image is decoded before a run sends it, since a truncated file would reach the
    model as a broken request or, worse, as a partial picture it answers anyway. Files
    that decoded before (same path, size and modification time) are remembered in the
    user cache, so only new or changed files cost a decode; decoding runs in threads
    (Pillow releases the GIL while it decodes).
    """
    cache_file = user_cache("decoded-images.json")
    try:
        known = set(json.loads(cache_file.read_text("utf-8")))
    except (OSError, ValueError):
        known = set()
    todo = {key: path for path in set(paths) if (key := _decode_key(path)) not in known}
    if not todo:
        return {}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        problems = dict(zip(todo, pool.map(check_image, todo.values()), strict=True))
    fine = {key for key, problem in problems.items() if problem is None}
    if fine:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(cache_file, sorted(known | fine), indent=None)
        except OSError:
            pass  # a cache we cannot write only costs a decode next time
    return {todo[key]: problem for key, problem in problems.items() if problem is not None}


@dataclass
class RenderReport:
    rendered: int = 0
    present: int = 0  # kept as they were; ``force`` renders them again
    failures: list[str] = field(default_factory=list)
    folder: Path | None = None  # where rendered images are


def render_all(
    data_dir: Path, items: Sequence[Item], force: bool = False, progress: Any = None
) -> RenderReport:
    """Render every item's image that is not there yet (all of them with ``force``)."""
    report = RenderReport(folder=rendered_path(data_dir, items[0]).parents[1] if items else None)
    for n, item in enumerate(items, 1):
        if not force and rendered_path(data_dir, item).is_file():
            report.present += 1
        else:
            try:
                render_item(data_dir, item, overwrite=force)
                report.rendered += 1
            except MissingImage as exc:
                report.failures.append(str(exc))
        if progress:
            progress(Progress(done=n, total=len(items)))
    return report
