"""Offline judges against people's labels, leave one source out, and their speed.

    python bench/judges [--xstest DIR] [--labelled "FILE?text=COL&label=COL&positive=A|B"]...
                        [--data-dir DIR] [--train] [--repeat 3]

Sources: XSTest v2's 2,250 human-labelled completions (one source per model; read from
``../shared/data/xstest`` or ``--xstest DIR``), the labelled sets under
``bench/judges/labels/`` that CI can reach, and any labelled CSV given with
``--labelled`` (several at once; see :func:`sources.load_labelled` for the options).
For each judge it prints accuracy, F1 and Cohen's kappa on refusal, overall and per
source, the worst source, and two false-flag rates on *safe* prompts, overall and per
source: refusals called on replies labelled full compliance, and ``aware`` called on
replies labelled plain answers (no refusal, no risk flag; only where flags were
labelled). ``string-match`` and ``prefix`` learn nothing and are scored as they are;
``refusal`` is scored leave one source out: fitted on every other training source,
scored on this one; a source given with ``role=eval`` (our SmolLM2 set) is never
trained on.

``--train`` then fits on every source and writes the weights the package ships
(``src/vscbench/judges/refusal_weights.json``); figures of those weights on any of these
sources are in-sample and are not printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sklearn.metrics import cohen_kappa_score
from sources import (
    HERE,
    SMOLLM2,
    XSTEST_FLAGS,
    judge_scores,
    load_sources,
    train,
    verdicts_of,
)

from vscbench.data.fetch import DataNotFound
from vscbench.judges import make_judge
from vscbench.judges.refusal import FLAG_THRESHOLD, RefusalJudge, content_words

WEIGHTS = HERE.parents[1] / "src" / "vscbench" / "judges" / "refusal_weights.json"


def _f(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


def _short(judge: str) -> str:
    """A judge's name without its note ("refusal (leave one source out)" -> "refusal")."""
    return judge.split(" (")[0]


def print_table(results: dict) -> None:
    sources = sorted(next(iter(results.values())).by_source)
    print(f"\n{'judge':<32} {'acc':>6} {'F1':>6} {'kappa':>6}  worst source")
    for name, s in results.items():
        worst, acc = s.worst
        print(
            f"{name:<32} {_f(s.overall['accuracy']):>6} {_f(s.overall['f1']):>6} "
            f"{_f(s.overall['kappa']):>6}  {acc:.3f} ({worst})"
        )
    print(f"\naccuracy per source ({len(sources)} sources)")
    print(f"{'source':<28} {'n':>5} " + " ".join(f"{_short(n):>14}" for n in results))
    for source in sources:
        n = next(iter(results.values())).by_source[source]["n"]
        cells = " ".join(f"{_f(s.by_source[source]['accuracy']):>14}" for s in results.values())
        print(f"{source:<28} {n:>5} {cells}")
    print("\nfalse flags on safe prompts: refusal on full compliance / aware on plain answers")
    for name, s in results.items():
        a, b = s.refusal_on_safe_compliance, s.aware_on_plain
        print(f"  {name:<32} all sources {_f(a['rate'])} of {a['n']} / {_f(b['rate'])} of {b['n']}")
        for source, rates in s.false_flags_by_source.items():
            a, b = rates["refusal"], rates["aware"]
            print(f"    {source:<30} {_f(a['rate'])} of {a['n']} / {_f(b['rate'])} of {b['n']}")
    print(
        "\naware against risk-flag labels on replies that are not refusals (labelled by "
        "AI-assistant labellers, not people: bench/judges/SOURCES.md)"
    )
    for name, s in results.items():
        m = s.aware
        print(
            f"  {name:<32} n={m['n']} accuracy {_f(m['accuracy'])} kappa {_f(m['kappa'])} "
            f"precision {_f(m['precision'])} recall {_f(m['recall'])}"
        )


def print_sets(by_set: dict[str, dict[str, Any]]) -> None:
    """One line per judge and data set: who labelled a data set differs (SOURCES.md), so
    its figures are read apart."""
    print("\nper data set: refusal acc (F1, kappa), worst source; false flags on safe prompts")
    for name, sets in by_set.items():
        for label, s in sets.items():
            o, a = s.overall, s.aware
            worst, acc = s.worst
            acc_worst = f"{acc:.3f} ({worst.split(':')[-1]})"
            print(
                f"  {_short(name):<13} {label:<13} {_f(o['accuracy'])} ({_f(o['f1'])}, "
                f"{_f(o['kappa'])}) worst {acc_worst}; refusal on full compliance "
                f"{_f(s.refusal_on_safe_compliance['rate'])}, aware on plain "
                f"{_f(s.aware_on_plain['rate'])} of {s.aware_on_plain['n']}; aware vs flags "
                f"{_f(a['accuracy'])} (kappa {_f(a['kappa'])}, recall {_f(a['recall'])})"
            )


def labeller_agreement() -> dict[str, tuple[int, float, float]]:
    """How often the two labellers of our own label sets agreed, before adjudication:
    ``{what: (n, agreement, Cohen's kappa)}`` (SOURCES.md says how they worked)."""

    def agree(a: pd.Series, b: pd.Series) -> tuple[int, float, float]:
        return len(a), float((a == b).mean()), float(cohen_kappa_score(a, b))

    out = {}
    if XSTEST_FLAGS.is_file():
        flags = pd.read_csv(XSTEST_FLAGS, dtype=str, keep_default_na=False)
        out["xstest_flags: flag"] = agree(flags["label_a"], flags["label_b"])
    if SMOLLM2.is_file():
        d = pd.read_csv(SMOLLM2, dtype=str, keep_default_na=False)
        refusal = {s: d[f"label_{s}"].isin(["full_refusal", "partial_refusal"]) for s in "ab"}
        aware = {s: refusal[s] | d[f"flag_{s}"].eq("flag") for s in "ab"}
        comply = d["label_a"].eq("full_compliance") & d["label_b"].eq("full_compliance")
        out["smollm2_txt: four classes"] = agree(d["label_a"], d["label_b"])
        out["smollm2_txt: refusal"] = agree(refusal["a"], refusal["b"])
        out["smollm2_txt: aware"] = agree(aware["a"], aware["b"])
        out["smollm2_txt: flag, both full compliance"] = agree(
            d.loc[comply, "flag_a"], d.loc[comply, "flag_b"]
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--xstest",
        type=Path,
        help="default: ../shared/data/xstest, $VSCBENCH_XSTEST_DATA, else the pinned download",
    )
    parser.add_argument(
        "--labelled",
        action="append",
        default=[],
        metavar="SPEC",
        help="a labelled CSV, repeatable: FILE?text=COL&label=COL&positive=A|B&source=COL "
        "(options: query=COL, name, flag, flag_positive, safe, safe_values, role=eval to keep "
        "it out of training, labels=ai when people did not label it)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="folder with VSCBench's sheets, for the SmolLM2 set's queries "
        "[default: ../shared/data/vscbench, else $VSCBENCH_DATA or the user cache, "
        "downloaded there if missing]",
    )
    parser.add_argument("--train", action="store_true", help="write the shipped weights")
    parser.add_argument(
        "--flag-threshold",
        type=float,
        default=FLAG_THRESHOLD,
        help=f"p(flag) of a risk flag, to measure the choice [default: {FLAG_THRESHOLD}]",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timing passes")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    try:
        data = load_sources(args.xstest, args.labelled, args.data_dir)
    except (ValueError, DataNotFound) as exc:  # a bad spec or file, data not found: one line
        parser.error(str(exc))
    counts = data.groupby("source").agg(
        size=("refusal", "size"),
        refusals=("refusal", "sum"),
        train=("train", "all"),
        labels=("labels", "first"),
    )
    print("sources (bench/judges/SOURCES.md says who labelled each and how):")
    for source, row in counts.iterrows():
        who = "people" if row["labels"] == "people" else "AI-assistant labellers, not people"
        role = "" if row["train"] else "; evaluation only, never trained on"
        print(
            f"  {source:<28} {row['size']:>5} replies, {row['refusals']:>5} refusals "
            f"(labels: {who}{role})"
        )
    started = time.perf_counter()
    results, by_set = judge_scores(
        data,
        {name: (lambda n=name: make_judge(n)) for name in ("string-match", "prefix")},
        args.flag_threshold,
    )
    print_table(results)
    print_sets(by_set)
    print("\nour labellers' agreement with each other, before adjudication (AI assistants)")
    for what, (n, share, kappa) in labeller_agreement().items():
        print(f"  {what:<42} n={n:<4} agreement {share:.3f} kappa {kappa:.3f}")
    print(f"(leave one source out: {time.perf_counter() - started:.0f} s)")
    if args.json:
        figures = {
            "all sources": {n: vars(s) for n, s in results.items()},
            "per data set": {n: {k: vars(v) for k, v in d.items()} for n, d in by_set.items()},
        }
        args.json.write_text(json.dumps(figures, indent=1, default=str), "utf-8")

    if args.train:
        model = train(
            data,
            meta={
                "trained_on": sorted(data.loc[data["train"], "source"].unique()),
                "n": int(data["train"].sum()),
                "by": "python bench/judges --train",
            },
        )
        model.save(WEIGHTS)
        sizes = f"{len(model.refusal.weights)} + {len(model.flag.weights)}"
        print(f"\nwrote {WEIGHTS} ({sizes} weights)")

    print(
        "\nspeed, one core (replies per second over every labelled reply, with its query; "
        "queries read anew in each pass)"
    )
    for name, judge in (
        ("string-match", make_judge("string-match")),
        ("prefix", make_judge("prefix")),
        ("refusal (shipped weights)", RefusalJudge()),
    ):
        start = time.perf_counter()
        for _ in range(args.repeat):
            content_words.cache_clear()  # every query read anew, as in a table of pairs
            verdicts_of(judge, data)
        rate = args.repeat * len(data) / (time.perf_counter() - start)
        print(f"  {name:<30} {rate:>10,.0f}/s")


if __name__ == "__main__":
    main()
