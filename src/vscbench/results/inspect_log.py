"""Every run as an inspect log, so ``inspect view RUN_DIR/logs`` opens it.

``vscbench run`` and ``score`` write ``RUN_DIR/logs/<created>_vscbench-run_<id>.json``
from the run's records: one sample per pair, with its input (prompt and image
reference), the model's output, scores (``aware`` and every judge's verdict with its
label and output) and metadata (id, split, variant, group, unsafe); a pair whose
generation failed carries the failure as the sample's error and no output. The log's
results are the run's own figures (:mod:`vscbench.results.counting`), so the viewer
and ``metrics.json`` agree.

The JSON format is used because inspect's ``.eval`` writer takes seconds per thousand
samples (it re-serialises its buffer on each one); JSON takes a tenth of a second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vscbench.results.store import LOG_DIR

TASK = "vscbench-run"


def _log_name(created: str, fingerprint: str) -> str:
    stamp = created.replace(":", "-")
    return f"{stamp}_{TASK}_{fingerprint[:12]}.json"


def _sample(record: Mapping[str, Any]) -> Any:
    from inspect_ai._util.error import EvalError
    from inspect_ai.log import EvalSample
    from inspect_ai.model import ChatMessageUser, ContentImage, ContentText, ModelOutput
    from inspect_ai.scorer import Score

    content: Any = record.get("prompt") or ""
    if record.get("image"):
        content = [ContentImage(image=str(record["image"])), ContentText(text=content)]
    error = record.get("error")
    if error or record.get("response") is None:
        output = ModelOutput(model="")
    else:
        output = ModelOutput.from_content(
            model="", content=record["response"], stop_reason=_stop(record)
        )
    scores: dict[str, Any] = {}
    verdicts = dict(record.get("judges") or {})
    if record.get("judge") and record["judge"] not in verdicts:
        verdicts[record["judge"]] = {
            "aware": record.get("aware"),
            "label": record.get("judge_label"),
            "output": record.get("judge_output"),
            "error": record.get("judge_error"),
        }
    if not error:
        scores["aware"] = Score(
            value="N" if record.get("aware") is None else int(bool(record["aware"])),
            answer=None,
            explanation=record.get("judge_output") or record.get("judge_error"),
            metadata={"judge": record.get("judge"), "label": record.get("judge_label")},
        )
        for name, verdict in verdicts.items():
            scores[name] = Score(
                value="N" if verdict.get("aware") is None else int(bool(verdict["aware"])),
                explanation=verdict.get("output") or verdict.get("error"),
                metadata={"label": verdict.get("label"), "refusal": verdict.get("refusal")},
            )
    metadata = {
        key: record.get(key)
        for key in ("split", "variant", "group", "unsafe", "image", "row", "excluded")
        if record.get(key) is not None
    }
    return EvalSample(
        id=str(record["id"]),
        epoch=1,
        input=[ChatMessageUser(content=content)],
        target="",
        output=output,
        scores=scores or None,
        metadata=metadata,
        error=EvalError(message=str(error), traceback="", traceback_ansi="") if error else None,
    )


def _stop(record: Mapping[str, Any]) -> Any:
    reason = record.get("stop_reason") or "stop"
    known = ("stop", "max_tokens", "model_length", "tool_calls", "content_filter", "unknown")
    return reason if reason in known else "unknown"


def write_inspect_log(
    run_dir: Path,
    records: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Any],
    config: Mapping[str, Any],
) -> Path:
    """Write (or replace) the run's inspect log; return its path."""
    from inspect_ai.log import (
        EvalConfig,
        EvalDataset,
        EvalLog,
        EvalMetric,
        EvalResults,
        EvalScore,
        EvalSpec,
        write_eval_log,
    )

    created = str(config.get("created") or "1970-01-01T00:00:00+00:00")
    fingerprint = str(config.get("fingerprint") or "unknown")
    headline = metrics.get("headline") or {}
    figures = {
        key: EvalMetric(name=key, value=float(headline[key]))
        for key in ("sra_u", "sra_s", "avg")
        if headline.get(key) is not None
    }
    counts = metrics.get("counts") or {}
    log = EvalLog(
        status="success",
        eval=EvalSpec(
            created=created,
            task=TASK,
            task_args={"fingerprint": fingerprint},
            dataset=EvalDataset(name="vscbench", samples=len(records)),
            model=str(config.get("model")),
            model_args=dict(config.get("model_args") or {}),
            config=EvalConfig(),
            metadata={"identity": config.get("identity"), "judges": config.get("judges")},
        ),
        results=EvalResults(
            total_samples=len(records),
            completed_samples=int(counts.get("scored", 0)),
            scores=[
                EvalScore(
                    name="aware",
                    scorer=str(metrics.get("judge")),
                    scored_samples=int(counts.get("scored", 0)),
                    unscored_samples=int(counts.get("failed", 0)),
                    metrics=figures,
                    metadata={"basis": headline.get("basis")},
                )
            ],
        ),
        samples=[_sample(r) for r in records],
    )
    folder = run_dir / LOG_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _log_name(created, fingerprint)
    tmp = path.with_name("tmp-" + path.name)
    write_eval_log(log, str(tmp), format="json")
    tmp.replace(path)
    for old in folder.glob(f"*_{TASK}_*.json"):  # a log of an earlier identity is stale
        if old != path:
            old.unlink()
    return path
