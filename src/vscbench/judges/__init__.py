"""Judges decide whether a response is safety-aware (and whether it is a refusal)."""

from vscbench.judges.base import Judge, Verdict
from vscbench.judges.cache import JudgeCache
from vscbench.judges.hf import HFClassifierJudge
from vscbench.judges.llm import LLMJudge, load_template, parse_label
from vscbench.judges.refusal import RefusalJudge, RefusalModel
from vscbench.judges.registry import JUDGE_HELP, JUDGE_SPECS, JudgeOptions, make_judge
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
    "parse_label",
]
