"""Judge specs (``string-match``, ``refusal``, ``llm:MODEL`` ...) to judge objects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from vscbench.config import DEFAULT_JUDGE, Judging, Requests
from vscbench.judges.base import Judge
from vscbench.judges.cache import JudgeCache
from vscbench.judges.hf import HFClassifierJudge
from vscbench.judges.llm import MAX_TOKENS, LLMJudge, Mode, load_template
from vscbench.judges.panel import JudgePanel
from vscbench.judges.refusal import RefusalJudge
from vscbench.judges.rules import PrefixJudge, StringMatchJudge

#: The LLM judges' sampling temperature (near-greedy).
JUDGE_TEMPERATURE = 0.01
OFFLINE_JUDGES = {"string-match": StringMatchJudge, "prefix": PrefixJudge, "refusal": RefusalJudge}
#: Every judge spec with what it is, for help texts (one source, so none is left out).
JUDGE_SPECS = (
    (DEFAULT_JUDGE, "upstream's refusal phrases anywhere in the reply (run's default)"),
    ("prefix", "refusal phrases at the start of the reply only"),
    ("refusal", "refusal cues weighed by a small model fitted on labelled replies, offline"),
    ("llm:MODEL", "an LLM labels the reply in 4 classes and explains (any --model name)"),
    ("llm-compact:MODEL", "the same, label only (cheaper)"),
    (
        "hf-classifier:MODEL[?positive=L&device=cuda&batch_size=N&input=pair]",
        "a Hugging Face sequence classifier (needs the local extra)",
    ),
)
JUDGE_HELP = " | ".join(spec for spec, _ in JUDGE_SPECS)


@dataclass
class JudgeOptions:
    """How LLM judges reach their model; offline judges ignore all of it."""

    base_url: str | None = None
    prompt_file: str | None = None
    max_tokens: int | None = None  # default per mode (vscbench.judges.llm.MAX_TOKENS)
    cache: bool = True
    requests: Requests = field(default_factory=Requests)
    # the judges' provider limits (``score --rpm``); a run's judges on the model's base
    # URL and key share its limiter, and so its limits, without being told
    rpm: float | None = None
    tpm: float | None = None

    @classmethod
    def of(cls, judging: Judging, requests: Requests) -> JudgeOptions:
        """The options of a run's judging part (and how it asks its model)."""
        return cls(
            base_url=judging.judge_base_url,
            prompt_file=judging.judge_prompt,
            max_tokens=judging.judge_max_tokens,
            cache=judging.judge_cache,
            requests=requests,
        )


def make_panel(specs: Sequence[str], options: JudgeOptions | None = None) -> JudgePanel:
    """The judges of ``specs`` (the first primary), all with the same options."""
    return JudgePanel([make_judge(spec, options) for spec in specs])


def make_judge(spec: str, options: JudgeOptions | None = None) -> Judge:
    """The judge a spec names (see :data:`JUDGE_HELP`)."""
    options = options or JudgeOptions()
    if spec in OFFLINE_JUDGES:
        return OFFLINE_JUDGES[spec]()
    kind, _, rest = spec.partition(":")
    if kind in ("llm", "llm-compact") and rest:
        return _llm_judge(rest, "explain" if kind == "llm" else "compact", options)
    if kind == "hf-classifier" and rest:
        model, _, query = rest.partition("?")
        params = dict(parse_qsl(query))
        positive = params.pop("positive", None)
        try:
            return HFClassifierJudge(model, positive.split(",") if positive else None, **params)  # type: ignore[arg-type]
        except TypeError as exc:
            raise ValueError(f"{spec}: unknown option ({exc})") from None
    raise ValueError(f"unknown judge {spec!r}; use {JUDGE_HELP}")


def _llm_judge(model: str, mode: Mode, options: JudgeOptions) -> LLMJudge:
    from vscbench.chat import Settings, answer_problem, ask
    from vscbench.models import make_generate

    template = load_template(options.prompt_file, mode)
    settings = Settings(
        temperature=JUDGE_TEMPERATURE,
        max_tokens=options.max_tokens or MAX_TOKENS[mode],
        max_connections=options.requests.max_connections,
        max_retries=options.requests.max_retries,
        timeout=options.requests.timeout,
        rpm=options.rpm,
        tpm=options.tpm,
    )
    holder: dict[str, object] = {}

    async def complete(prompt: str) -> tuple[str, dict[str, int] | None]:
        # created on first use, so a run that judges nothing needs no judge model
        if "generate" not in holder:
            holder["generate"] = make_generate(model, options.base_url, {}, settings)
        answer = await holder["generate"](ask(prompt))  # type: ignore[operator]
        problem = answer_problem(answer)
        if problem:
            raise RuntimeError(problem)
        return answer.text, answer.usage

    scope = {
        "base_url": options.base_url,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
    }
    return LLMJudge(model, complete, template, mode, JudgeCache() if options.cache else None, scope)
