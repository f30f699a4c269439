"""Would a more flexible model over the same cues carry over to unseen models better?

    python bench/judges/capacity.py [--xstest DIR] [--data-dir DIR]

The shipped ``refusal`` judge is a logistic model over the named cues of
:mod:`vscbench.judges.cues` (plus the query read). This script fits other learners on
exactly the same 0/1 features and scores each leave one model out on XSTest (fitted on
four models' people-labelled replies, scored on the fifth) and on our SmolLM2 set
(evaluation only: fitted on all of XSTest, never on it; its labels are AI labellers',
not people's). It asks whether the judge's XSTest ceiling is the learner's or the
features': the learners are the shipped one at other strengths of L2 (scikit-learn's
``C``), the same with every pairwise conjunction of features added, and gradient-boosted
trees of depth 3. Only the refusal part is compared (the flag part and the explicit
decline rule are left out, so the shipped row differs from ``python bench/judges`` by a
few replies). Figures go into ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import PolynomialFeatures
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sources import C, design, load_sources

from vscbench.data.fetch import DataNotFound

Learner = Callable[[], object]
LEARNERS: dict[str, tuple[Learner, bool]] = {  # name -> (learner, with pairwise conjunctions)
    f"logistic C={C} (shipped)": (lambda: LogisticRegression(C=C, max_iter=5000), False),
    "logistic C=0.1": (lambda: LogisticRegression(C=0.1, max_iter=5000), False),
    "logistic C=1": (lambda: LogisticRegression(C=1.0, max_iter=5000), False),
    "logistic + pairs C=0.1": (lambda: LogisticRegression(C=0.1, max_iter=5000), True),
    "logistic + pairs C=0.3": (lambda: LogisticRegression(C=0.3, max_iter=5000), True),
    "boosted trees depth 3": (
        lambda: HistGradientBoostingClassifier(learning_rate=0.05, max_iter=200, max_depth=3),
        False,
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xstest", type=Path, help="as for python bench/judges")
    parser.add_argument("--data-dir", type=Path, help="as for python bench/judges")
    args = parser.parse_args()
    try:
        data = load_sources(args.xstest, [], args.data_dir)
    except (ValueError, DataNotFound) as exc:
        parser.error(str(exc))
    with threadpool_limits(1):  # OpenMP threads fighting over shared cores cost minutes
        compare(data)


def compare(data: pd.DataFrame) -> None:
    """Print every learner's accuracy per held-out source (see the module's docstring)."""
    started = time.perf_counter()
    x = design(list(data["text"]), list(data["query"]))
    pairs = PolynomialFeatures(2, interaction_only=True, include_bias=False).fit_transform(x)
    y = data["refusal"].to_numpy(bool)
    source = data["source"].to_numpy()
    training = data["train"].to_numpy(bool)
    held_out = sorted(set(source[training]))
    evaluation = sorted(set(source[~training]))
    print(f"{x.shape[1]} features, {pairs.shape[1]} with pairwise conjunctions\n")
    print(
        f"{'learner':<28} {'XSTest LOMO':>11}  "
        + " ".join(f"{s.split(':')[-1][:11]:>11}" for s in held_out + evaluation)
    )
    for name, (make, with_pairs) in LEARNERS.items():
        features = pairs if with_pairs else x
        predicted = np.zeros(len(y), bool)
        for scored in held_out:
            rows = source == scored
            fitted = make().fit(features[training & ~rows], y[training & ~rows])
            predicted[rows] = fitted.predict(features[rows])
        if evaluation:
            fitted = make().fit(features[training], y[training])
            predicted[~training] = fitted.predict(features[~training])
        right = predicted == y
        cells = " ".join(f"{right[source == s].mean():11.3f}" for s in held_out + evaluation)
        print(f"{name:<28} {right[training].mean():11.3f}  {cells}")
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
