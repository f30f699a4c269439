"""Select the pairs a run or task uses and attach the image each one is sent with.

This is the one place that turns the metadata into a runnable set: it applies the
user's selection, leaves out defective pairs (unless asked not to), and resolves every
image, so that whatever cannot run is reported as a defect instead of failing mid-run.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vscbench.config import RenderMode, Selection, check_choices
from vscbench.data.layout import resolve_data_dir
from vscbench.data.sheets import Defect, excluded_ids, load_sheets
from vscbench.images import (
    MissingImage,
    render_item,
    rendered_path,
    resolve_image,
    undecodable,
)
from vscbench.items import RENDERED_VARIANTS, SPLITS, Item
from vscbench.split import assign_sides, query_key

__all__ = ["UNUSABLE_IMAGE", "Dataset", "Selection", "load_dataset", "stratified_sample"]


@dataclass
class Dataset:
    """Runnable pairs with their image files, and everything that was left out or odd."""

    data_dir: Path
    items: list[Item]
    images: dict[str, Path | None]
    defects: list[Defect]
    sha256: dict[str, str]
    excluded: dict[str, str] = field(default_factory=dict)  # item id -> reason

    def image_relpath(self, item: Item) -> str | None:
        path = self.images.get(item.id)
        if path is None:
            return None
        try:
            return path.relative_to(self.data_dir).as_posix()
        except ValueError:
            return str(path)


#: Defects that leave a pair without an image to send (a run stops unless told to skip).
UNUSABLE_IMAGE = ("missing_image", "unreadable_image")


def stratified_sample(items: Sequence[Item], limit: int, seed: int) -> list[Item]:
    """At most ``limit`` items per split: a seeded sample balanced over the strata.

    The first N of sheet order would be N safe pairs of one category, so a smoke test
    could not even show SRA_u. Here each pick goes to the safety label picked least so
    far; within it, to its least-picked category (image-centric) or XSTest type
    (text-centric), then to its least-picked variant; remaining ties go to the
    category and variant least picked overall, then to a seeded order, and the pair
    itself is drawn at random. So N pairs cover as many strata as N allows, on both
    sides, and the same seed gives the same pairs. Sheet order is kept in the result.
    """
    rng = random.Random(seed)
    position = {item.id: n for n, item in enumerate(items)}
    chosen: list[Item] = []
    for split in SPLITS:
        chosen += _balanced([i for i in items if i.split == split], limit, rng)
    return sorted(chosen, key=lambda item: position[item.id])


def _balanced(items: list[Item], limit: int, rng: random.Random) -> list[Item]:
    """``limit`` of ``items`` drawn one at a time from the least-picked stratum."""
    pools: dict[tuple[bool, str, str], list[Item]] = {}
    for item in items:
        pools.setdefault((item.unsafe, item.group, item.variant), []).append(item)
    order = {key: rng.random() for key in sorted(pools)}
    for pool in pools.values():
        rng.shuffle(pool)
    picked: Counter[tuple[object, ...]] = Counter()

    def counters(key: tuple[bool, str, str]) -> list[tuple[object, ...]]:
        unsafe, group, variant = key
        return [
            ("safety", unsafe),
            ("group", unsafe, group),
            ("variant", unsafe, group, variant),
            ("group", group),
            ("variant", variant),
        ]

    chosen: list[Item] = []
    for _ in range(min(limit, len(items))):
        key = min(pools, key=lambda k: (*(picked[c] for c in counters(k)), order[k]))
        chosen.append(pools[key].pop())
        picked.update(counters(key))
        if not pools[key]:
            del pools[key]
    return chosen


def load_dataset(
    data_dir: str | Path | None = None,
    selection: Selection | None = None,
    render: RenderMode = "auto",
    include_defective: bool = False,
) -> Dataset:
    """Load, select and resolve images; nothing is dropped without a reason recorded."""
    selection = selection or Selection()
    root = resolve_data_dir(data_dir)
    sheets = load_sheets(root, selection.splits)
    if selection.types:
        known = {i.group for i in sheets.items if i.split == "text"}
        check_choices("XSTest type", selection.types, sorted(known))
    defects = list(sheets.defects)
    skip = set() if include_defective else excluded_ids(defects)
    excluded: dict[str, str] = {}

    sides = (
        assign_sides(sheets.items, selection.split_seed, selection.calibration_fraction)
        if selection.eval_on != "all"
        else {}
    )
    candidates: list[Item] = []
    for item in sheets.items:
        if not selection.keeps(item):
            continue
        if sides and sides[query_key(item)] != selection.eval_on:
            continue
        if item.id in skip:  # left out before --limit counts, so N means N runnable pairs
            excluded[item.id] = "defective (empty prompt); see --include-defective"
            continue
        candidates.append(item)
    chosen = candidates
    if selection.limit is not None:
        chosen = stratified_sample(candidates, selection.limit, selection.split_seed)

    images: dict[str, Path | None] = {}
    unusable: dict[str, tuple[str, str]] = {}  # item id -> (defect kind, message)
    for item in chosen:
        try:
            images[item.id] = resolve_image(root, item, render)
        except MissingImage as exc:
            unusable[item.id] = ("missing_image", str(exc))
    bad = undecodable(p for p in images.values() if p is not None)
    for item in chosen:
        path = images.get(item.id)
        if path is None or path not in bad:
            continue
        images[item.id] = None
        if item.variant in RENDERED_VARIANTS and render != "never":
            try:  # the release's file is broken, but the image can be made again
                ours = path == rendered_path(root, item)
                images[item.id] = render_item(root, item, overwrite=ours)
                continue
            except MissingImage:
                pass
        unusable[item.id] = (
            "unreadable_image",
            f"{item.id}: image file {path} cannot be decoded ({bad[path]})",
        )
    for item in chosen:
        if item.id in unusable:
            kind, message = unusable[item.id]
            images.pop(item.id, None)
            excluded[item.id] = "image missing" if kind == "missing_image" else "image undecodable"
            defects.append(Defect(kind, item.source, message, item.row, None, (item.id,)))
    items = [item for item in chosen if item.id not in unusable]
    return Dataset(root, items, images, defects, sheets.sha256, excluded)
