"""Agreement between two binary labellings: a judge against people, or two judges.

Plain arithmetic on counts, so the figures can be checked by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def confusion(pairs: Iterable[tuple[bool, bool]]) -> dict[str, int]:
    """Counts of ``(truth, predicted)`` pairs: tp, fp, fn, tn."""
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for truth, predicted in pairs:
        key = ("t" if truth == predicted else "f") + ("p" if predicted else "n")
        counts[key] += 1
    return counts


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def cohen_kappa(c: dict[str, int]) -> float | None:
    """Agreement beyond chance; ``None`` when chance agreement is total."""
    n = sum(c.values())
    if n == 0:
        return None
    observed = (c["tp"] + c["tn"]) / n
    yes = ((c["tp"] + c["fn"]) / n) * ((c["tp"] + c["fp"]) / n)
    no = ((c["fp"] + c["tn"]) / n) * ((c["fn"] + c["tn"]) / n)
    expected = yes + no
    return None if expected == 1 else (observed - expected) / (1 - expected)


def binary_agreement(pairs: Iterable[tuple[bool, bool]]) -> dict[str, Any]:
    """Accuracy, precision, recall, F1 and Cohen's kappa of predictions against truth."""
    c = confusion(pairs)
    n = sum(c.values())
    precision = _ratio(c["tp"], c["tp"] + c["fp"])
    recall = _ratio(c["tp"], c["tp"] + c["fn"])
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall
        else None
    )
    return {
        "n": n,
        "accuracy": _ratio(c["tp"] + c["tn"], n),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "kappa": cohen_kappa(c),
        "confusion": c,
    }
