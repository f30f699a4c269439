"""Simulated runs whose every pair has a known "human" label, for checking the audit's
estimator (``tests/test_audit_estimate.py`` and ``bench/audit.py``).

A run has the benchmark's shape: 300 image-centric queries with 3 unsafe and 3 safe
images each, and the text-centric image variants of 200 unsafe and 250 safe queries (4
pairs each). The model's behaviour is clustered by query: each query has its own
probability that people call an answer safety-aware, drawn from a Beta distribution with
the side's mean and intra-query correlation ``icc``. The judge then errs at set rates
per side, also clustered by query (each query draws its own error rates, ``judge_icc``),
as a judge that misreads one kind of answer misreads it on every image of that query.

The superpopulation figure is the Beta mean itself, so a fresh run is drawn for every
seed and an interval that claims to cover the model's figure is checked against it.
This is data we generate ourselves: a regression test of the estimator, not evidence
about any real judge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vscbench.audit.design import Population, Unit

IMAGE_QUERIES, IMAGES_PER_SIDE = 300, 3
TEXT_UNSAFE_QUERIES, TEXT_SAFE_QUERIES, TEXT_VARIANTS = 200, 250, 4


@dataclass(frozen=True)
class Scenario:
    name: str
    aware_unsafe: float  # people: share of unsafe pairs answered safety-aware (= SRA_u)
    aware_safe: float  # people: share of safe pairs answered safety-aware (= 1 - SRA_s)
    miss: tuple[float, float]  # judge: P(not aware | people say aware), unsafe and safe
    false_flag: tuple[float, float]  # judge: P(aware | people say not aware)
    icc: float = 0.4
    judge_icc: float = 0.3

    @property
    def sra(self) -> dict[str, float]:
        return {"sra_u": self.aware_unsafe, "sra_s": 1 - self.aware_safe}


#: People's agreement with the judge as the issue quotes for real judges (0.945 on XSTest
#: held out, 0.92 and 0.86 elsewhere), one with stronger clustering, and a stress case of
#: a judge that almost never errs, whose small strata see no disagreement at all.
SCENARIOS = (
    Scenario("agrees 94% (XSTest-like)", 0.55, 0.15, (0.06, 0.05), (0.05, 0.06)),
    Scenario("agrees 91%", 0.55, 0.12, (0.12, 0.10), (0.06, 0.08)),
    Scenario("agrees 84%", 0.40, 0.20, (0.25, 0.20), (0.15, 0.12)),
    Scenario("agrees 88%, icc 0.6", 0.50, 0.20, (0.15, 0.15), (0.10, 0.10), 0.6, 0.6),
    Scenario("agrees 98% (stress)", 0.85, 0.04, (0.03, 0.03), (0.02, 0.02)),
)


def _beta(rng: np.random.Generator, mean: float, icc: float, size: int) -> np.ndarray:
    """Per-query probabilities with the given mean and intra-query correlation."""
    scale = (1 - icc) / icc
    return rng.beta(mean * scale, (1 - mean) * scale, size)


@dataclass
class SimulatedRun:
    population: Population
    human: dict[str, bool]  # people's aware verdict of every pair
    truth: dict[str, float]  # superpopulation SRA_u, SRA_s
    run_truth: dict[str, float]  # this run's SRA_u, SRA_s as people would score every pair


def simulate(scenario: Scenario, seed: int, scale: float = 1.0) -> SimulatedRun:
    """A fresh run; ``scale`` shrinks the number of queries (for quick tests)."""
    rng = np.random.default_rng(seed)
    units: list[Unit] = []
    human: dict[str, bool] = {}
    for unsafe, mean, side in ((True, scenario.aware_unsafe, 0), (False, scenario.aware_safe, 1)):
        queries = [(f"image/q{q}", IMAGES_PER_SIDE) for q in range(round(IMAGE_QUERIES * scale))]
        text_queries = round((TEXT_UNSAFE_QUERIES if unsafe else TEXT_SAFE_QUERIES) * scale)
        offset = 0 if unsafe else TEXT_UNSAFE_QUERIES
        queries += [(f"text/{offset + q}", TEXT_VARIANTS) for q in range(text_queries)]
        p_aware = _beta(rng, mean, scenario.icc, len(queries))
        p_miss = _beta(rng, scenario.miss[side], scenario.judge_icc, len(queries))
        p_flag = _beta(rng, scenario.false_flag[side], scenario.judge_icc, len(queries))
        for q, (cluster, size) in enumerate(queries):
            aware = rng.random(size) < p_aware[q]
            err = rng.random(size)
            judge = np.where(aware, err >= p_miss[q], err < p_flag[q])
            for k in range(size):
                pair = f"{cluster}/{'unsafe' if unsafe else 'safe'}/{k}"
                units.append(Unit(pair, cluster, unsafe, bool(judge[k])))
                human[pair] = bool(aware[k])
    digests = {u.id: f"{u.unsafe}{u.judge_aware}" for u in units}
    pop = Population(units, "simulated", "simulated", digests)
    run_truth = {}
    for key, unsafe in (("sra_u", True), ("sra_s", False)):
        side = [human[u.id] for u in units if u.unsafe == unsafe]
        run_truth[key] = sum(side) / len(side) if unsafe else 1 - sum(side) / len(side)
    return SimulatedRun(pop, human, scenario.sra, run_truth)


def success(run: SimulatedRun, pair: str, unsafe: bool) -> float:
    """People's success on a pair: aware on an unsafe pair, not aware on a safe one."""
    return float(run.human[pair] if unsafe else not run.human[pair])
