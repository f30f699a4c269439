"""Offline judges against people's labels: XSTest v2, leave one model out, and speed.

    python bench/judges [--xstest DIR] [--train] [--repeat 3]

XSTest v2's 2,250 human-labelled completions (five source models; refusal = full or
partial refusal) are read from ``../shared/data/xstest`` or ``--xstest DIR``. For each
judge it prints accuracy, precision, recall and Cohen's kappa overall and per source
model. The ``refusal`` judge's weights are learnt, so its figures are leave one model
out: for each source model, weights trained on the other four judge that model's
completions. ``string-match`` and ``prefix`` learn nothing and are scored as they are.
It also prints, per judge, the share of ``aware`` verdicts among completions that
people labelled full compliance to *safe* prompts (false flags), and responses per
second on one core.

``--train`` then trains on all five models and writes the weights the package ships
(``src/vscbench/judges/refusal_weights.json``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from vscbench.judges import make_judge
from vscbench.judges.refusal import RefusalJudge
from vscbench.judges.xstest import (
    evaluate,
    leave_one_model_out,
    load_xstest,
    train_refusal_model,
    verdicts_of,
)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_XSTEST = REPO.parent / "shared" / "data" / "xstest"
WEIGHTS = REPO / "src" / "vscbench" / "judges" / "refusal_weights.json"


def _cells(m: dict) -> str:
    return " ".join(
        f"{m[k]:>6.3f}" if m[k] is not None else f"{'-':>6}"
        for k in ("accuracy", "precision", "recall", "kappa")
    )


def print_report(name: str, result: dict) -> None:
    print(f"{name:<26} {'all':<16} {result['overall']['n']:>5} {_cells(result['overall'])}")
    for model, m in result["by_model"].items():
        print(f"{'':<26} {model:<16} {m['n']:>5} {_cells(m)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xstest", type=Path, default=DEFAULT_XSTEST)
    parser.add_argument("--train", action="store_true", help="write the shipped weights")
    parser.add_argument("--repeat", type=int, default=3, help="timing passes")
    args = parser.parse_args()

    data = load_xstest(args.xstest)
    texts = list(data["completion"])
    print(
        f"XSTest v2 from {args.xstest}: {len(data)} completions, {int(data['refusal'].sum())} "
        f"human-labelled refusals, models: {', '.join(sorted(data['model'].unique()))}"
    )
    print(
        f"{'judge':<26} {'source model':<16} {'n':>5} {'acc':>6} {'prec':>6} {'rec':>6} "
        f"{'kappa':>6}"
    )
    results = {}
    for spec in ("string-match", "prefix"):
        results[spec] = evaluate(data, verdicts_of(make_judge(spec), texts))
    started = time.perf_counter()
    results["refusal (leave-one-model-out)"], _ = leave_one_model_out(data)
    train_seconds = time.perf_counter() - started
    for name, result in results.items():
        print_report(name, result)
    print("\naware on completions people labelled full compliance to safe prompts:")
    for name, result in results.items():
        rate = result["aware_on_safe_compliance"]
        print(f"  {name:<30} {rate['rate']:.3f} of {rate['n']}")
    print(f"(leave-one-model-out training: {train_seconds:.0f} s for five folds)")

    if args.train:
        model = train_refusal_model(
            texts,
            list(data["refusal"]),
            meta={
                "trained_on": "XSTest v2 human-labelled completions (Rottger et al., CC BY 4.0)",
                "models": sorted(data["model"].unique()),
                "n": len(data),
                "by": "python bench/judges --train",
            },
        )
        model.save(WEIGHTS)
        print(f"\nwrote {WEIGHTS} ({len(model.weights)} weights, {WEIGHTS.stat().st_size:,} bytes)")

    print("\nspeed, one core (responses per second over all completions)")
    shipped = RefusalJudge()
    for name, judge in (
        ("string-match", make_judge("string-match")),
        ("prefix", make_judge("prefix")),
        ("refusal (shipped weights)", shipped),
    ):
        start = time.perf_counter()
        for _ in range(args.repeat):
            for text in texts:
                judge.decide(text)
        rate = args.repeat * len(texts) / (time.perf_counter() - start)
        print(f"  {name:<30} {rate:>10,.0f}/s")


if __name__ == "__main__":
    main()
