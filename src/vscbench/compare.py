"""Comparing runs: pooled figures and paired tests on the same pairs.

Two runs of different models or methods on the same benchmark pairs are paired data:
McNemar's exact test on the pairs where they disagree says whether one is more
safety-aware than the other beyond chance, which the two SRA intervals alone cannot.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from vscbench.metrics import sra


def pooled(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """SRA over every judged pair of a run (both splits, every variant)."""
    return sra((bool(r["unsafe"]), bool(r["aware"])) for r in records if r.get("aware") is not None)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired(
    a: Mapping[str, Mapping[str, Any]], b: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """McNemar on the pairs both runs judged, overall and for unsafe and safe pairs.

    ``only_a``: pairs run A answered safety-aware and run B did not; ``only_b`` the reverse.
    """
    out: dict[str, Any] = {}
    for subset in ("all", "unsafe", "safe"):
        only_a = only_b = both = n = 0
        for key, ra in a.items():
            rb = b.get(key)
            if rb is None or ra.get("aware") is None or rb.get("aware") is None:
                continue
            if subset != "all" and bool(ra["unsafe"]) != (subset == "unsafe"):
                continue
            n += 1
            if ra["aware"] and not rb["aware"]:
                only_a += 1
            elif rb["aware"] and not ra["aware"]:
                only_b += 1
            else:
                both += 1
        out[subset] = {
            "n": n,
            "only_a": only_a,
            "only_b": only_b,
            "agree": both,
            "p_value": mcnemar_exact(only_a, only_b),
        }
    return out
