"""The calibration/test split never puts one query on both sides."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest

from vscbench.data.sheets import load_sheets
from vscbench.dataset import Selection, load_dataset
from vscbench.engine import RunConfig, run
from vscbench.split import assign_sides, query_key


def test_no_query_on_both_sides(sheets_dir: Path) -> None:
    items = load_sheets(sheets_dir).items
    sides = assign_sides(items, seed=3, fraction=0.25)
    by_key: dict[str, set[str]] = defaultdict(set)
    for item in items:
        by_key[query_key(item)].add(sides[query_key(item)])
    assert all(len(s) == 1 for s in by_key.values())
    assert len(by_key) == 750  # 300 image rows + 450 text rows
    # the six pairs of an image row and the five variants of a text row stay together
    assert query_key(next(i for i in items if i.id == "image/drugs/4/unsafe/2")) == (
        "image/drugs/4"
    )
    assert query_key(next(i for i in items if i.id == "text/17/figstep")) == "text/17"


def test_proportions_per_group_and_seed(sheets_dir: Path) -> None:
    items = load_sheets(sheets_dir).items
    sides = assign_sides(items, seed=0, fraction=0.2)
    per_group: dict[str, Counter[str]] = defaultdict(Counter)
    for key in {query_key(i): i.group for i in items}.items():
        per_group[key[1]][sides[key[0]]] += 1
    assert all(
        c["calibration"] == 10 for g, c in per_group.items() if g in ("drugs", "violence")
    )  # 50 rows per category
    assert all(c["calibration"] == 5 for g, c in per_group.items() if g.endswith("homonyms"))
    assert sides == assign_sides(items, seed=0, fraction=0.2)
    assert sides != assign_sides(items, seed=1, fraction=0.2)
    # a query's side does not depend on what else is selected
    text_only = assign_sides([i for i in items if i.split == "text"], seed=0, fraction=0.2)
    assert all(sides[k] == v for k, v in text_only.items())
    with pytest.raises(ValueError, match="between 0 and 1"):
        assign_sides(items, fraction=1.0)


def test_eval_on_selects_one_side(full_data_dir: Path, tmp_path: Path) -> None:
    test_side = load_dataset(full_data_dir, Selection(eval_on="test"))
    cal_side = load_dataset(full_data_dir, Selection(eval_on="calibration"))
    test_keys = {query_key(i) for i in test_side.items}
    cal_keys = {query_key(i) for i in cal_side.items}
    assert not test_keys & cal_keys
    assert len(test_side.items) + len(cal_side.items) == 4038
    result = run(
        RunConfig(
            model="mockllm/model",
            data_dir=str(full_data_dir),
            splits=("text",),
            variants=("txt",),
            eval_on="test",
        ),
        tmp_path / "run",
    )
    assert result.metrics["counts"]["records"] == 360  # 80% of 450, 20 of 25 per type
    assert result.metrics["config"]["eval_on"] == "test"
