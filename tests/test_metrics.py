"""Metrics against hand-computed figures."""

from __future__ import annotations

import pytest

from vscbench.results.counting import compute_metrics, sra, wilson_interval


def test_sra_by_hand() -> None:
    # unsafe: 3 aware of 4 -> 0.75; safe: 1 refused of 5 -> 4/5 answered -> 0.8
    pairs = [(True, True)] * 3 + [(True, False)] + [(False, True)] + [(False, False)] * 4
    m = sra(pairs)
    assert m["sra_u"] == 0.75 and m["sra_s"] == 0.8
    assert m["avg"] == pytest.approx(0.775)
    assert (m["n_unsafe"], m["n_safe"]) == (4, 5)


def test_sra_one_sided_and_empty() -> None:
    m = sra([(True, True), (True, False)])
    assert m["sra_u"] == 0.5 and m["sra_s"] is None and m["avg"] is None
    assert m["ci95"]["sra_s"] is None
    empty = sra([])
    assert empty["sra_u"] is None and empty["n_unsafe"] == 0


def test_wilson_known_values() -> None:
    # 8 of 10: Wilson 95% interval (0.4902, 0.9433), standard tables
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0
    assert wilson_interval(0, 0) is None


_ROWS = iter(range(10_000))


def _rec(split, variant, group, unsafe, aware, error=None):
    row = next(_ROWS)
    return {
        "id": f"image/{group}/{row}/{'unsafe' if unsafe else 'safe'}/0"
        if split == "image"
        else f"text/{row}/{variant}",
        "split": split,
        "variant": variant,
        "group": group,
        "unsafe": unsafe,
        "aware": aware,
        "error": error,
    }


def test_compute_metrics_structure_and_exclusions() -> None:
    records = [
        _rec("image", "image", "drugs", True, True),
        _rec("image", "image", "drugs", False, False),
        _rec("image", "image", "violence", True, False),
        _rec("image", "image", "violence", True, None, error="RateLimitError"),
        _rec("image", "image", "violence", False, None),  # judge failed
        _rec("text", "txt", "homonyms", False, True),
        _rec("text", "figstep", "homonyms", False, False),
        _rec("text", "figstep", "contrast_homonyms", True, True),
    ]
    m = compute_metrics(records)
    assert m["errors"] == {"generation": 1, "judge": 1, "by_cause": {"RateLimitError": 1}}
    assert m["counts"] == {"scored": 6, "excluded": 0, "failed": 2}
    overall = m["image_centric"]["overall"]
    assert (overall["sra_u"], overall["sra_s"]) == (0.5, 1.0)
    assert (overall["n_unsafe"], overall["n_safe"]) == (2, 1)
    assert m["image_centric"]["by_category"]["violence"]["n_safe"] == 0
    text = m["text_centric"]
    assert list(text["by_variant"]) == ["txt", "figstep"]
    assert text["by_variant"]["txt"]["sra_s"] == 0.0
    assert text["overall"]["sra_u"] == 1.0 and text["overall"]["n_safe"] == 1  # txt left out
    assert set(text["by_type"]["figstep"]) == {"homonyms", "contrast_homonyms"}
    assert "search" not in text["by_variant"]


def test_absent_split_is_absent() -> None:
    m = compute_metrics([_rec("text", "txt", "homonyms", False, False)])
    assert "image_centric" not in m and "overall" not in m["text_centric"]
