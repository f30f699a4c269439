"""Is the hand audit's estimator right? Bias and coverage on simulated runs.

    python bench/audit.py [--seeds 2000] [--workers 2] [--scenarios 94% stress] [--prior 0.5]

For every scenario (people disagreeing with the judge at set rates per side, clustered by
query; see ``tests/audit_simulation.py``) and audit size (60 and 200 pairs), each seed
draws a fresh run (so the superpopulation figure is what ``ci95`` must cover), the
audit's sample with the production design code, and "labels" it with the simulated
people; the production estimator then gives SRA_u and SRA_s with their intervals.

Printed per scenario, size and figure: the corrected estimate's mean error against the
truth (points), how often ``ci95`` covers the superpopulation figure and ``ci95_run``
this run's figure, the mean width of ``ci95``; and, in the same seeds, what three wrong
estimators would give: the labelled pairs' plain share (stratum weights ignored), the
right estimate with an interval that leaves out the audit's variance, and the judge's
own figure with its clustered interval. The simulated data are our own: a regression
test of the estimator, not a measurement of any judge.

``--scenarios`` keeps the scenarios whose name holds one of the given strings (to rerun
a few cells); ``--prior`` sets the strata's Beta prior pseudo-count (default Jeffreys'
½, what ``vscbench audit`` uses), to compare others on the same seeds.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from audit_simulation import SCENARIOS, Scenario, simulate, success

from vscbench.audit.design import draw
from vscbench.audit.estimate import JEFFREYS, stratified_share
from vscbench.results.counting import Z95, clustered_interval

SIZES = (60, 200)
SIDES = (("sra_u", True), ("sra_s", False))


def one_seed(args: tuple[Scenario, int, float]) -> dict[tuple[int, str], tuple[float, ...]]:
    """Every figure of one simulated run, for each audit size and side."""
    scenario, seed, prior = args
    run = simulate(scenario, seed)
    out = {}
    for size in SIZES:
        design = draw(run.population, size, seed)
        for key, unsafe in SIDES:
            units = [u for u in run.population.units if u.unsafe == unsafe]
            sampled = {u.id for u in units} & set(design.order)
            labelled = {pair: success(run, pair, unsafe) for pair in sampled}
            est = stratified_share(units, labelled, seed, prior)
            truth, run_truth = run.truth[key], run.run_truth[key]
            half = Z95 * math.sqrt(est.variance["query"])
            judge = [(u.cluster, u.judge_aware == unsafe) for u in units]
            judge_ci = clustered_interval(judge)
            judge_value = sum(ok for _, ok in judge) / len(judge)
            out[(size, key)] = (
                est.value - truth,
                est.ci95[0] <= truth <= est.ci95[1],
                est.ci95_run[0] <= run_truth <= est.ci95_run[1],
                est.ci95[1] - est.ci95[0],
                sum(labelled.values()) / len(labelled) - truth,  # weights ignored
                abs(est.value - truth) <= half,  # no audit variance
                judge_value - truth,
                judge_ci[0] <= truth <= judge_ci[1],
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scenarios", nargs="+", metavar="TEXT", help="names holding TEXT")
    parser.add_argument("--prior", type=float, default=JEFFREYS, help="Beta pseudo-count")
    args = parser.parse_args()
    scenarios = [
        s for s in SCENARIOS if not args.scenarios or any(t in s.name for t in args.scenarios)
    ]
    if not scenarios:
        parser.error(f"--scenarios {args.scenarios}: none of {[s.name for s in SCENARIOS]}")
    started = time.perf_counter()
    print(
        f"{args.seeds} seeds per scenario, prior Beta({args.prior:g}, {args.prior:g}); "
        "bias in points; coverage of the 95% intervals\n"
        "(ci95: the superpopulation figure; run: this run's figure, ci95_run)\n"
    )
    header = (
        f"{'scenario':28} {'n':>4} {'figure':6} {'bias':>6} {'ci95':>6} {'run':>6} "
        f"{'width':>6} | {'unweighted':>10} {'no audit var':>12} | {'judge bias':>10} "
        f"{'judge ci95':>10}"
    )
    print(header)
    print("-" * len(header))
    with ProcessPoolExecutor(args.workers) as pool:
        for scenario in scenarios:
            jobs = [(scenario, s, args.prior) for s in range(args.seeds)]
            rows = list(pool.map(one_seed, jobs, chunksize=8))
            for size in SIZES:
                for key, _ in SIDES:
                    a = np.array([r[(size, key)] for r in rows], dtype=float)
                    print(
                        f"{scenario.name:28} {size:>4} {key:6} {100 * a[:, 0].mean():+6.2f} "
                        f"{a[:, 1].mean():6.3f} {a[:, 2].mean():6.3f} {100 * a[:, 3].mean():6.1f} "
                        f"| {100 * a[:, 4].mean():+10.2f} {a[:, 5].mean():12.3f} "
                        f"| {100 * a[:, 6].mean():+10.2f} {a[:, 7].mean():10.3f}",
                        flush=True,
                    )
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
