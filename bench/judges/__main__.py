"""Offline judges on the labelled refusal set: agreement with the human labels and speed.

    python bench/judges [--hf-classifier MODEL_OR_PATH] [--repeat 20]

Agreement is reported on the held-out rows (written after the refusal judge's rules
were fixed; the figures to quote), the development rows, and all rows. Speed is
responses per second over the whole set, with the ratio to upstream's string-match
rule measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import pandas as pd

from vscbench.agreement import binary_agreement
from vscbench.judges import make_judge

DATA = Path(__file__).with_name("refusal_labelled.csv")
POSITIVE = {"2_full_refusal", "3_partial_refusal"}


def verdicts(judge, responses: list[str]) -> list:
    async def go() -> list:
        return list(await asyncio.gather(*(judge.judge("", r) for r in responses)))

    return asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hf-classifier", help="add hf-classifier:MODEL (hub id or path)")
    parser.add_argument("--repeat", type=int, default=20, help="timing passes over the set")
    args = parser.parse_args()

    frame = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    responses = list(frame["response"])
    truth = frame["label"].isin(POSITIVE)
    specs = ["string-match", "prefix", "refusal"]
    if args.hf_classifier:
        specs.append(f"hf-classifier:{args.hf_classifier}")
    print(
        f"{DATA.name}: {len(frame)} responses, {int(truth.sum())} refusals "
        f"({frame['split'].value_counts().to_dict()}); styles: "
        f"{', '.join(sorted(frame['style'].unique()))}"
    )
    header = (
        f"{'judge':<14} {'subset':<8} {'n':>4} {'acc':>6} {'prec':>6} {'rec':>6} "
        f"{'F1':>6} {'kappa':>6}"
    )
    print(header)
    speed: dict[str, float] = {}
    for spec in specs:
        judge = make_judge(spec)
        predicted = [v.refusal for v in verdicts(judge, responses)]
        for subset, mask in (
            ("holdout", frame["split"] == "holdout"),
            ("dev", frame["split"] != "holdout"),
            ("all", frame["split"] == frame["split"]),
        ):
            pairs = [
                (bool(t), bool(p))
                for t, p, m in zip(truth, predicted, mask, strict=True)
                if m and p is not None
            ]
            m = binary_agreement(pairs)
            cells = " ".join(
                f"{m[k]:>6.3f}" if m[k] is not None else f"{'-':>6}"
                for k in ("accuracy", "precision", "recall", "f1", "kappa")
            )
            print(f"{spec[:14]:<14} {subset:<8} {m['n']:>4} {cells}")
        start = time.perf_counter()
        for _ in range(args.repeat):
            verdicts(judge, responses)
        speed[spec] = args.repeat * len(responses) / (time.perf_counter() - start)
    base = speed["string-match"]
    print("\nspeed (responses per second, ratio to string-match in this run)")
    for spec, rate in speed.items():
        print(f"{spec[:40]:<40} {rate:>12,.0f}/s   x{rate / base:.2f}")


if __name__ == "__main__":
    main()
