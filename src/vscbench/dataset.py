"""Select the pairs a run or task uses and attach the image each one is sent with.

This is the one place that turns the metadata into a runnable set: it applies the
user's selection, leaves out defective pairs (unless asked not to), and resolves every
image, so that whatever cannot run is reported as a defect instead of failing mid-run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vscbench.data.layout import resolve_data_dir
from vscbench.data.sheets import Defect, excluded_ids, load_sheets
from vscbench.images import MissingImage, RenderMode, resolve_image
from vscbench.items import IMAGE_CATEGORIES, SPLITS, TEXT_VARIANTS, Item
from vscbench.split import DEFAULT_FRACTION, DEFAULT_SEED, EVAL_ON, assign_sides, query_key


@dataclass
class Selection:
    """Which part of the benchmark to use; empty tuples mean "all"."""

    splits: tuple[str, ...] = SPLITS
    variants: tuple[str, ...] = TEXT_VARIANTS
    categories: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    limit: int | None = None  # at most this many pairs per split, in sheet order
    eval_on: str = "all"  # or one side of the calibration/test split
    split_seed: int = DEFAULT_SEED
    calibration_fraction: float = DEFAULT_FRACTION

    def __post_init__(self) -> None:
        _check_choices("split", self.splits, SPLITS)
        _check_choices("variant", self.variants, TEXT_VARIANTS)
        _check_choices("category", self.categories, IMAGE_CATEGORIES)
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")
        _check_choices("eval-on side", (self.eval_on,), EVAL_ON)

    def keeps(self, item: Item) -> bool:
        if item.split not in self.splits:
            return False
        if item.split == "image":
            return not self.categories or item.group in self.categories
        if item.variant not in self.variants:
            return False
        return not self.types or item.group in self.types


def _check_choices(name: str, given: Iterable[str], allowed: Sequence[str]) -> None:
    unknown = [g for g in given if g not in allowed]
    if unknown:
        raise ValueError(
            f"unknown {name}(s) {', '.join(map(repr, unknown))}; choose from {', '.join(allowed)}"
        )


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
        _check_choices("XSTest type", selection.types, sorted(known))
    defects = list(sheets.defects)
    skip = set() if include_defective else excluded_ids(defects)
    excluded: dict[str, str] = {}

    sides = (
        assign_sides(sheets.items, selection.split_seed, selection.calibration_fraction)
        if selection.eval_on != "all"
        else {}
    )
    chosen: list[Item] = []
    per_split: dict[str, int] = {}
    for item in sheets.items:
        if not selection.keeps(item):
            continue
        if sides and sides[query_key(item)] != selection.eval_on:
            continue
        if selection.limit is not None and per_split.get(item.split, 0) >= selection.limit:
            continue
        if item.id in skip:  # left out before --limit counts, so N means N runnable pairs
            excluded[item.id] = "defective (empty prompt); see --include-defective"
            continue
        per_split[item.split] = per_split.get(item.split, 0) + 1
        chosen.append(item)

    items: list[Item] = []
    images: dict[str, Path | None] = {}
    missing: list[tuple[Item, str]] = []
    for item in chosen:
        try:
            images[item.id] = resolve_image(root, item, render)
        except MissingImage as exc:
            missing.append((item, str(exc)))
            excluded[item.id] = "image missing"
            continue
        items.append(item)
    for item, message in missing:
        defects.append(Defect("missing_image", item.source, message, item.row, None, (item.id,)))
    return Dataset(root, items, images, defects, sheets.sha256, excluded)
