"""The calibration/test split: methods that learn from data are scored on unseen queries.

The unit is the *query*: an image-centric row (its 3 safe and 3 unsafe pairs) or a
text-centric row (its 5 variants) always lands on one side, so nothing learnt from a
query's images or phrasings can leak into its score. Within each image-centric category
and each XSTest type, queries are ordered by a seeded hash of their key and the first
``round(fraction × n)`` form the calibration side: proportions hold per group (and so
safe/unsafe balance holds for text-centric), and the assignment of a query never
depends on which other queries are selected.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from typing import Literal

from vscbench.config import Selection
from vscbench.items import Item, query_of

Side = Literal["calibration", "test"]
_DEFAULT = Selection()  # the default seed and fraction, stated in vscbench.config
DEFAULT_SEED = _DEFAULT.split_seed
DEFAULT_FRACTION = _DEFAULT.calibration_fraction


def query_key(item: Item) -> str:
    """``image/<category>/<index>`` or ``text/<row>``: what the split keeps together."""
    return query_of(item.id)


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def assign_sides(
    items: Iterable[Item], seed: int = DEFAULT_SEED, fraction: float = DEFAULT_FRACTION
) -> dict[str, Side]:
    """Side of every query key among ``items`` (pass the whole benchmark for stability)."""
    if not 0 < fraction < 1:
        raise ValueError(f"calibration fraction must be between 0 and 1, got {fraction}")
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for item in items:
        groups[(item.split, item.group)].add(query_key(item))
    sides: dict[str, Side] = {}
    for keys in groups.values():
        ordered = sorted(keys, key=lambda k: _rank(seed, k))
        cut = round(fraction * len(ordered))
        for position, key in enumerate(ordered):
            sides[key] = "calibration" if position < cut else "test"
    return sides
