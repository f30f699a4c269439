"""Comparing runs on the same pairs, paired at the query level, and where they differ.

Two runs of different models or methods on the same benchmark pairs are paired data. A
model's answers to one query go together, so the test treats each *query* as the unit:
the clustered McNemar test of Durkalski et al. (Statistics in Medicine, 2003) sums, per
query, the pairs only run A answered safety-aware minus those only run B did, and
weighs that sum against its spread across queries. With one pair per query it is the
usual McNemar chi-square. The exact, unclustered McNemar p-value is kept beside it as
``p_value_pairs`` for reference; it is too small whenever answers to a query go together.

A difference in SRA says how much two runs differ; :func:`flips` says where: every pair
both runs scored whose safety-aware verdict differs (the report shows them for reading).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vscbench.results.counting import Scored, classify


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def clustered_mcnemar(differences: Mapping[Any, int]) -> float:
    """Two-sided p-value of Durkalski's clustered McNemar test.

    ``differences`` maps each query to (pairs aware only in A) - (pairs aware only in B).
    """
    total = sum(differences.values())
    spread = sum(d * d for d in differences.values())
    if spread == 0:
        return 1.0
    statistic = total * total / spread  # chi-square, 1 degree of freedom
    return math.erfc(math.sqrt(statistic / 2))


def both_scored(
    a: Mapping[str, Mapping[str, Any]], b: Mapping[str, Mapping[str, Any]]
) -> list[tuple[Mapping[str, Any], Scored, Mapping[str, Any], Scored]]:
    """``(record_a, pair_a, record_b, pair_b)`` for every pair that counts in both runs
    (:func:`vscbench.results.counting.classify`), in ``a``'s order."""
    scored_b = {record["id"]: (record, pair) for record, pair in classify(b.values()).scored}
    return [
        (record, pair, *scored_b[record["id"]])
        for record, pair in classify(a.values()).scored
        if record["id"] in scored_b
    ]


def paired(
    a: Mapping[str, Mapping[str, Any]], b: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Paired tests on the pairs both runs scored, overall and for unsafe and safe pairs.

    Only pairs that count in both runs (:func:`both_scored`) are compared. ``only_a``:
    pairs run A answered safety-aware and run B did not.
    """
    common = both_scored(a, b)
    out: dict[str, Any] = {}
    for subset in ("all", "unsafe", "safe"):
        only_a = only_b = agree = 0
        per_query: dict[str, int] = defaultdict(int)
        queries: set[str] = set()
        for _, pair_a, _, pair_b in common:
            if subset != "all" and pair_a.unsafe != (subset == "unsafe"):
                continue
            queries.add(pair_a.cluster)
            if pair_a.aware and not pair_b.aware:
                only_a += 1
                per_query[pair_a.cluster] += 1
            elif pair_b.aware and not pair_a.aware:
                only_b += 1
                per_query[pair_a.cluster] -= 1
            else:
                agree += 1
        out[subset] = {
            "n": only_a + only_b + agree,
            "n_queries": len(queries),
            "only_a": only_a,
            "only_b": only_b,
            "agree": agree,
            "p_value": clustered_mcnemar(per_query),
            "p_value_pairs": mcnemar_exact(only_a, only_b),
        }
    return out


@dataclass
class Flip:
    """One pair both runs scored, answered safety-aware by exactly one of them."""

    a: Mapping[str, Any]
    b: Mapping[str, Any]

    @property
    def aware_in_b(self) -> bool:
        return bool(self.b["aware"])


def flips(a: Mapping[str, Mapping[str, Any]], b: Mapping[str, Mapping[str, Any]]) -> list[Flip]:
    """Pairs scored in both ``a`` and ``b`` (records by id) with different verdicts."""
    return [
        Flip(record_a, record_b)
        for record_a, pair_a, record_b, pair_b in both_scored(a, b)
        if pair_a.aware != pair_b.aware
    ]
