"""Build, offline, a small LLaVA whose language half is SmolLM2-135M-Instruct.

The language model carries SmolLM2's real weights, tokenizer and ChatML chat template
(extended to place LLaVA's ``<image>`` token); the CLIP vision tower and the projector
are small and randomly initialised. The result is an ordinary checkpoint directory:

    python bench/real/build_vlm.py --out models/smollm2-llava
    vscbench run --model hf-vlm/models/smollm2-llava --split image --limit 12 --out runs/x

so the image tokens, the processor and the chat template run with a real tokenizer. The
tests build the same model (``tests/fixtures.py``, ``build_smollm2_llava``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "tests"))
from fixtures import build_smollm2_llava  # noqa: E402
from smollm2 import gguf_path  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("models/smollm2-llava"))
    args = parser.parse_args()
    print(build_smollm2_llava(gguf_path(), args.out))


if __name__ == "__main__":
    main()
