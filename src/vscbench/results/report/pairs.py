"""The report's per-pair view: the pairs two runs disagree on, with thumbnails and a CSV.

Which pairs flipped is decided by :func:`vscbench.results.compare.flips`, on the pairs
both runs scored (as the paired tests are); here they are prepared for reading: a
thumbnail of the image sent, both answers, and a CSV beside the page with every flip,
since the page shows a bounded number.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from vscbench.results.compare import Flip

#: Flipped pairs shown per comparison on the page; the CSV holds all of them.
MAX_SHOWN = 300
#: Characters of each answer shown before "more" (the whole answer is one click away).
ANSWER_PREVIEW = 280
THUMB_SIZE = (160, 160)
CSV_COLUMNS = (
    *("id", "split", "group", "variant", "unsafe", "prompt", "image"),
    *("aware_a", "response_a", "aware_b", "response_b"),
)


def image_file(record: Mapping[str, Any], data_dir: str | None) -> Path | None:
    """The image file a record was sent with, if it is still on this machine."""
    image = record.get("image")
    if not image:
        return None
    path = Path(image)
    if not path.is_absolute() and data_dir:
        path = Path(data_dir) / path
    return path if path.is_file() else None


def thumbnail(source: Path, folder: Path) -> str | None:
    """A small PNG copy of ``source`` in ``folder``; its name relative to the page."""
    name = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:16] + ".png"
    target = folder / name
    if not target.is_file():
        try:
            with Image.open(source) as image:
                image.thumbnail(THUMB_SIZE)
                folder.mkdir(parents=True, exist_ok=True)
                image.convert("RGB").save(target)
        except Exception:  # an unreadable image is shown as such, not a failed report
            return None
    return f"{folder.name}/{name}"


def write_csv(found: Sequence[Flip], path: Path) -> None:
    """Every flip, with both answers in full."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for flip in found:
            writer.writerow(
                [
                    *(flip.a.get(key) for key in CSV_COLUMNS[:7]),
                    flip.a["aware"],
                    flip.a.get("response"),
                    flip.b["aware"],
                    flip.b.get("response"),
                ]
            )


def section(
    names: tuple[str, str], found: Sequence[Flip], data_dir: str | None, out: Path, csv_name: str
) -> dict[str, Any]:
    """What the page shows of one comparison: counts, filters and the rows shown."""
    name_a, name_b = names
    rows = []
    for flip in found[:MAX_SHOWN]:
        source = image_file(flip.a, data_dir)
        thumb = thumbnail(source, out / "thumbs") if source else None
        direction = "gained" if flip.aware_in_b else "lost"
        rows.append({"a": flip.a, "b": flip.b, "thumb": thumb, "direction": direction})
    shown = (
        f"all {len(found)}" if len(found) <= MAX_SHOWN else f"the first {MAX_SHOWN} of {len(found)}"
    )
    return {
        "id": "flips-" + hashlib.sha1(f"{name_a}\0{name_b}".encode()).hexdigest()[:8],
        "a": name_a,
        "b": name_b,
        "total": len(found),
        "gained": sum(f.aware_in_b for f in found),
        "shown": shown,
        "csv": csv_name,
        "rows": rows,
        "filters": [
            ("group", sorted({str(f.a["group"]) for f in found}), "category / type"),
            ("variant", sorted({str(f.a["variant"]) for f in found}), "variant"),
            ("direction", ["gained", "lost"], f"awareness in {name_b}"),
        ],
    }
