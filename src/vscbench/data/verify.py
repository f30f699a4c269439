"""Check a data directory: checksums, row counts, and every image a run would send.

Defects are collected, never raised, so one pass reports everything. A selection is
*blocked* when some of its pairs have neither a readable upstream image nor a way to
render one: that is what a run cannot work around.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from vscbench.config import Selection
from vscbench.data.layout import check_image, locate
from vscbench.data.sheets import Defect, load_sheets
from vscbench.items import RENDERED_VARIANTS, Item
from vscbench.progress import OnProgress, Progress


@dataclass
class VerifyReport:
    data_dir: Path
    sha256: dict[str, str]
    items: Counter[str] = field(default_factory=Counter)  # per split
    images: Counter[str] = field(default_factory=Counter)  # ok/missing/unreadable/renderable
    defects: list[Defect] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # item ids that cannot run

    @property
    def ok(self) -> bool:
        return not self.blocked


def _renderable(data_dir: Path, item: Item) -> bool:
    if item.variant not in RENDERED_VARIANTS or item.render_text is None:
        return False
    if item.variant != "concat":
        return True
    photo = locate(data_dir, item.photo) if item.photo else None
    return photo is not None and check_image(photo) is None


def verify(
    data_dir: Path,
    selection: Selection | None = None,
    progress: OnProgress | None = None,
) -> VerifyReport:
    """Report on ``data_dir`` for ``selection``; raises only if a sheet is unusable."""
    selection = selection or Selection()
    sheets = load_sheets(data_dir, selection.splits)
    report = VerifyReport(data_dir, sheets.sha256, defects=list(sheets.defects))
    items = [i for i in sheets.items if selection.keeps(i)]
    checked: dict[Path, str | None] = {}
    for n, item in enumerate(items, 1):
        report.items[item.split] += 1
        if progress:
            progress(Progress(done=n, total=len(items)))
        if item.image is None:
            continue
        path = locate(data_dir, item.image)
        if path is not None and path not in checked:
            checked[path] = check_image(path)
        problem = "missing" if path is None else ("unreadable" if checked[path] else None)
        if problem is None:
            report.images["ok"] += 1
            continue
        if _renderable(data_dir, item):
            report.images["renderable"] += 1
            continue
        report.images[problem] += 1
        report.blocked.append(item.id)
        message = (
            f"{item.image} not found"
            if path is None
            else f"{item.image} cannot be decoded ({checked[path]})"
        )
        report.defects.append(
            Defect(f"{problem}_image", item.source, message, item.row, None, (item.id,))
        )
    return report
