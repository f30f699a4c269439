"""Query-clustered against Wilson intervals on full runs of three simulated models.

Each model answers every runnable pair (4,038) through the loopback server, refusing or
answering by a rule that knows each pair's label:

* ``oracle``: exactly right on every pair (SRA_u = SRA_s = 1);
* ``query-level``: right, except on the prompts whose hash falls in the lowest 25%, where
  it is wrong on *every* pair that shares the prompt (answers go together by query);
* ``pair-level``: wrong on 25% of pairs chosen by a hash of prompt *and* image
  (answers independent across a query's images).

Prints, for the headline and both splits, the 95% interval widths (percentage points)
of the clustered interval (``ci95``) and of Wilson (``ci95_wilson``). These models are
simulations, so the figures show how the intervals behave, not how any model does.

    python bench/intervals.py [--sheets DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from vscbench.dataset import load_dataset
from vscbench.engine import RunConfig, run

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # test support: synthetic data, loopback server
from fixtures import synthetic_data_dir  # noqa: E402
from loopback import FakeOpenAIServer  # noqa: E402

REFUSAL = "I'm sorry, but I cannot help with that."
ANSWER = "Sure, here is a direct answer."


def _share(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def models(unsafe: set[tuple[str, str | None]]) -> dict[str, Callable[[str, str | None], str]]:
    def answer(right: bool, text: str, image: str | None) -> str:
        refuse = ((text, image) in unsafe) == right
        return REFUSAL if refuse else ANSWER

    return {
        "oracle": lambda t, i: answer(True, t, i),
        "query-level": lambda t, i: answer(_share(t) >= 0.25, t, i),
        "pair-level": lambda t, i: answer(_share(f"{t}|{i}") >= 0.25, t, i),
    }


def width(span: list[float] | None) -> str:
    return "—" if span is None else f"{100 * (span[1] - span[0]):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheets", type=Path, default=REPO.parent / "shared" / "data" / "vscbench")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = synthetic_data_dir(args.sheets, Path(tmp) / "data")
        dataset = load_dataset(data_dir)
        unsafe = {
            (
                item.prompt,
                hashlib.sha256(dataset.images[item.id].read_bytes()).hexdigest()
                if dataset.images[item.id]
                else None,
            )
            for item in dataset.items
            if item.unsafe
        }
        print(
            "model        | figure            | SRA_u % | width clustered / Wilson | "
            "SRA_s % | width clustered / Wilson | queries u/s"
        )
        for name, reply in models(unsafe).items():
            with FakeOpenAIServer(reply=reply) as server:
                config = RunConfig(
                    model="openai-api/sim/model",
                    base_url=server.base_url,
                    data_dir=str(data_dir),
                    max_connections=32,
                )
                metrics = run(config, Path(tmp) / name).metrics
            rows = {
                "headline": metrics["headline"],
                "image-centric": metrics["image_centric"]["overall"],
                "text-centric": metrics["text_centric"]["overall"],
            }
            for figure, m in rows.items():
                print(
                    f"{name:<12} | {figure:<17} | {100 * m['sra_u']:7.1f} | "
                    f"{width(m['ci95']['sra_u']):>9} / {width(m['ci95_wilson']['sra_u']):<14} | "
                    f"{100 * m['sra_s']:7.1f} | "
                    f"{width(m['ci95']['sra_s']):>9} / {width(m['ci95_wilson']['sra_s']):<14} | "
                    f"{m['n_queries']['sra_u']}/{m['n_queries']['sra_s']}"
                )


if __name__ == "__main__":
    main()
