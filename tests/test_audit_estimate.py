"""The audit's estimator: by hand on small cases, and on simulated runs whose every
"human" label is known (``tests/audit_simulation.py``; ``bench/audit.py`` runs the same
check with more seeds and scenarios)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from audit_simulation import SCENARIOS, simulate, success

from vscbench.audit.design import Unit, draw
from vscbench.audit.estimate import agreement, stratified_share, verdict_icc


def _units(spec: list[tuple[str, bool]]) -> list[Unit]:
    """Unsafe units from (cluster, judge_aware), ids u0, u1, ..."""
    return [Unit(f"u{i}", cluster, True, aware) for i, (cluster, aware) in enumerate(spec)]


def test_the_estimate_weights_each_stratum_by_its_size() -> None:
    # 6 pairs the judge calls aware, 4 it does not; 3 and 2 of them labelled
    units = _units([("a", True)] * 3 + [("b", True)] * 3 + [("c", False)] * 2 + [("d", False)] * 2)
    labels = {"u0": 1.0, "u1": 1.0, "u3": 0.0, "u6": 0.0, "u8": 1.0}
    est = stratified_share(units, labels)
    assert est.value == pytest.approx(0.6 * 2 / 3 + 0.4 * 1 / 2)  # not the labels' 3/5
    assert (est.n_labelled, est.n_pairs, est.missing) == (5, 10, [])
    assert est.ci95[0] <= est.value <= est.ci95[1]
    assert est.ci95_run[0] <= est.value <= est.ci95_run[1]
    # the run's figure can only lie where the five unlabelled pairs can put it
    assert est.ci95_run[0] >= 3 / 10 and est.ci95_run[1] <= 8 / 10

    # a stratum without a label: no figure, and which stratum is said
    assert stratified_share(units, {"u0": 1.0}).missing == ["unsafe/not_aware"]
    assert stratified_share(units, {"u0": 1.0}).value is None


@pytest.mark.parametrize("prior", [0.5, 0.25])
def test_every_pair_labelled_leaves_only_the_queries_uncertain(prior: float) -> None:
    # clusters: two aware, two not aware, one of each; judge ICC = 1/3 by hand
    units = _units([("c1", True), ("c1", True), ("c2", False), ("c2", False), ("c3", True)])
    units.append(Unit("u5", "c3", True, False))
    assert verdict_icc(units) == pytest.approx(1 / 3)
    labels = {u.id: float(u.judge_aware) for u in units}  # people agree with the judge
    est = stratified_share(units, labels, prior=prior)
    assert est.value == 0.5 and est.ci95_run == [0.5, 0.5]
    assert est.variance["audit"] == 0.0
    # spread p~(1 - p~) with the prior's pseudo-counts, 3 of 3 labels agreeing in both
    # strata (Jeffreys: 0.875 * 0.125); by hand:
    adjusted = (3 + prior) / (3 + 2 * prior)
    s2 = adjusted * (1 - adjusted)
    per_cluster = [1.0, 1.0, 0.0]  # squared sums of (stratum mean - 0.5)
    extra = (2 * math.sqrt(s2)) ** 2 - 2 * s2  # the within-query term, times rho
    expected = 3 / 2 * sum(b + 2 * s2 + extra / 3 for b in per_cluster) / 36
    assert est.variance["query"] == pytest.approx(expected)
    assert est.ci95[0] < 0.5 < est.ci95[1]


def _beta_binomial_quantile(q: float, n: int, a: float, b: float) -> int:
    """Smallest k with P(K <= k) >= q for K ~ BetaBinomial(n, a, b), by the pmf."""

    def log_beta(x: float, y: float) -> float:
        return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)

    total = 0.0
    for k in range(n + 1):
        log_choose = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        total += math.exp(log_choose + log_beta(k + a, n - k + b) - log_beta(a, b))
        if total >= q:
            return k
    return n


@pytest.mark.parametrize("prior", [0.5, 0.25])
def test_a_stratum_whose_labels_all_agree_keeps_the_priors_tail(prior: float) -> None:
    """15 of 200 pairs the judge calls aware are labelled and people agree on all; the 20
    it does not are labelled whole. The unlabelled 185 hide a Beta-binomial number of
    disagreements, so the run's figure can be as low as its 97.5% quantile allows: Jeffreys'
    tail by default, a shorter one with a smaller prior."""
    units = _units([(f"a{i}", True) for i in range(200)] + [(f"n{i}", False) for i in range(20)])
    labels = {f"u{i}": 1.0 for i in range(15)} | {f"u{200 + i}": 0.0 for i in range(20)}
    est = stratified_share(units, labels, seed=5, prior=prior)
    assert est.value == pytest.approx(200 / 220)
    missed = _beta_binomial_quantile(0.975, 185, prior, 15 + prior)
    assert est.ci95_run[0] * 220 == pytest.approx(200 - missed, abs=1.0)
    assert est.ci95_run[1] == pytest.approx(200 / 220)  # no pair can do better than agree
    jeffreys = _beta_binomial_quantile(0.975, 185, 0.5, 15.5)
    assert (missed == jeffreys) == (prior == 0.5) and missed <= jeffreys
    with pytest.raises(ValueError, match="positive"):
        stratified_share(units, labels, prior=0.0)


def test_agreement_by_hand() -> None:
    # 80 pairs the judge calls aware, 20 not; 10 labelled in each
    units = [Unit(f"a{i}", f"q{i}", True, True) for i in range(80)]
    units += [Unit(f"n{i}", f"r{i}", True, False) for i in range(20)]
    people = {f"a{i}": float(i < 9) for i in range(10)} | {f"n{i}": float(i < 2) for i in range(10)}
    verdict = {u.id: u.judge_aware for u in units}
    out = agreement(units, people, verdict, seed=3)
    # the run's table (judge, people): .72, .08 / .04, .16
    assert out["accuracy"]["value"] == pytest.approx(0.88)
    assert out["sensitivity"]["value"] == pytest.approx(0.72 / 0.76)
    assert out["specificity"]["value"] == pytest.approx(0.16 / 0.24)
    assert out["kappa"]["value"] == pytest.approx((0.88 - 0.656) / 0.344)
    assert out["sample"] == {"tp": 9, "fp": 1, "fn": 2, "tn": 8}
    for name in ("accuracy", "kappa", "sensitivity", "specificity"):
        low, high = out[name]["ci95"]
        assert low < out[name]["value"] < high
    # all-agree labels: an interval that still has width
    perfect = agreement(units, {k: float(k.startswith("a")) for k in people}, verdict)
    assert perfect["accuracy"]["value"] == 1.0
    assert perfect["accuracy"]["ci95"][0] < 0.97
    for name in ("accuracy", "sensitivity", "specificity"):  # never a hair past 1
        assert 0.0 <= perfect[name]["ci95"][0] <= perfect[name]["ci95"][1] <= 1.0
    # people call every labelled pair positive: no specificity, and no interval around it
    everyone = agreement(units, dict.fromkeys(people, 1.0), verdict)
    assert everyone["specificity"] == {"value": None, "ci95": None}


SEEDS = 150
#: A third of the benchmark's queries (about 1,200 pairs), to keep the test quick.
SCALE = 0.3


@pytest.fixture(scope="module")
def simulated() -> dict[int, dict[str, np.ndarray]]:
    """For seeds of a fresh simulated run (people agree with the judge on 91% of pairs, a
    third of the benchmark's size): the estimate's error, coverage, and the same for two
    wrong estimators."""
    scenario = SCENARIOS[1]
    out: dict[int, dict[str, list[tuple[float, ...]]]] = {60: {}, 200: {}}
    for seed in range(SEEDS):
        run = simulate(scenario, 1000 + seed, SCALE)
        for size in (60, 200):
            design = draw(run.population, size, seed)
            for key, unsafe in (("sra_u", True), ("sra_s", False)):
                units = [u for u in run.population.units if u.unsafe == unsafe]
                ids = {u.id for u in units}
                labels = {p: success(run, p, unsafe) for p in design.order if p in ids}
                est = stratified_share(units, labels, seed)
                truth = run.truth[key]
                half = 1.96 * math.sqrt(est.variance["query"])
                out[size].setdefault(key, []).append(
                    (
                        est.value - truth,
                        est.ci95[0] <= truth <= est.ci95[1],
                        sum(labels.values()) / len(labels) - truth,
                        abs(est.value - truth) <= half,
                    )
                )
    return {size: {k: np.array(v) for k, v in d.items()} for size, d in out.items()}


@pytest.mark.parametrize("size", [60, 200])
@pytest.mark.parametrize("key", ["sra_u", "sra_s"])
def test_unbiased_and_covering_on_simulated_runs(
    simulated: dict[int, dict[str, np.ndarray]], size: int, key: str
) -> None:
    """Over 150 fresh runs: mean error within 1.5 points (bench: within 0.3 at 1,000 seeds)
    and 95% intervals covering the truth in 90-99% of them (binomial noise at 150 seeds
    is +-3.5 points)."""
    rows = simulated[size][key]
    assert abs(rows[:, 0].mean()) < 0.015
    assert 0.90 <= rows[:, 1].mean() <= 0.99


def test_the_checks_fail_wrong_estimators(simulated: dict[int, dict[str, np.ndarray]]) -> None:
    """The tolerances above are tight enough to catch an estimator that ignores the
    stratum weights, or an interval without the audit's variance."""
    unweighted = simulated[60]["sra_s"][:, 2].mean()
    assert abs(unweighted) > 0.03  # the rare, oversampled stratum pulls it off
    for size in (60, 200):
        for key in ("sra_u", "sra_s"):
            assert simulated[size][key][:, 3].mean() < 0.90  # too narrow without the audit
