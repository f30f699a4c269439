"""VSCBench: safety calibration of vision-language models.

Python API beside the ``vscbench`` command::

    import vscbench
    result = vscbench.run(vscbench.RunConfig(model="openai/gpt-4o-mini"), "runs/gpt4o-mini")
    result.metrics["image_centric"]["overall"]["sra_u"]

The run schema is :mod:`vscbench.config`, models are :mod:`vscbench.models`, the command
line is :mod:`vscbench.commands`; README's "Layout" says where everything else is.
"""

from vscbench.data.sheets import DataError, Defect, load_sheets
from vscbench.dataset import Dataset, Selection, load_dataset
from vscbench.engine import RunConfig, RunResult, run, score
from vscbench.items import Item
from vscbench.judges import (
    JudgeOptions,
    LLMJudge,
    PrefixJudge,
    RefusalJudge,
    StringMatchJudge,
    Verdict,
    make_judge,
)
from vscbench.results.counting import compute_metrics, sra, wilson_interval
from vscbench.results.store import RunDirError

__all__ = [
    "DataError",
    "Dataset",
    "Defect",
    "Item",
    "JudgeOptions",
    "LLMJudge",
    "PrefixJudge",
    "RefusalJudge",
    "RunConfig",
    "RunDirError",
    "RunResult",
    "Selection",
    "StringMatchJudge",
    "Verdict",
    "compute_metrics",
    "load_dataset",
    "load_sheets",
    "make_judge",
    "run",
    "score",
    "sra",
    "wilson_interval",
]
