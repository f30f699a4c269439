"""Judges decide whether a response is safety-aware (and whether it is a refusal).

Offline judges (:mod:`.rules`, :mod:`.refusal`) and the LLM judge (:mod:`.llm`, its model
call injected) are core; :mod:`.panel` runs several over the same answers, :mod:`.cache`
keeps LLM verdicts. :mod:`.registry` turns specs into judges and binds LLM judges to
:mod:`vscbench.models`; :mod:`.hf` is a Hugging Face classifier judge.
"""

from vscbench.judges.base import Judge, Verdict
from vscbench.judges.cache import JudgeCache
from vscbench.judges.hf import HFClassifierJudge
from vscbench.judges.llm import LLMJudge, load_template, parse_label
from vscbench.judges.refusal import RefusalJudge, RefusalModel
from vscbench.judges.registry import (
    JUDGE_HELP,
    JUDGE_SPECS,
    JudgeOptions,
    make_judge,
    make_panel,
)
from vscbench.judges.rules import STRING_MATCH_KEYWORDS, PrefixJudge, StringMatchJudge

__all__ = [
    "JUDGE_HELP",
    "JUDGE_SPECS",
    "STRING_MATCH_KEYWORDS",
    "HFClassifierJudge",
    "Judge",
    "JudgeCache",
    "JudgeOptions",
    "LLMJudge",
    "PrefixJudge",
    "RefusalJudge",
    "RefusalModel",
    "StringMatchJudge",
    "Verdict",
    "load_template",
    "make_judge",
    "make_panel",
    "parse_label",
]
