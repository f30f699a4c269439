"""Every run as an inspect log, so ``inspect view RUN_DIR/logs`` opens it.

``vscbench run`` and ``score`` write ``RUN_DIR/logs/<created>_vscbench-run_<id>.json``
from the run's records: one sample per pair, with its input (prompt and image
reference), the model's output, scores (``aware`` and every judge's verdict with its
label and output) and metadata (id, split, variant, group, unsafe); a pair whose
generation failed carries the failure as the sample's error and no output. The log's
results are the run's own figures (:mod:`vscbench.results.counting`), so the viewer
and ``metrics.json`` agree.

The log is inspect's JSON log format (version 2), written as plain JSON rather than
through inspect's pydantic models: importing ``inspect_ai`` and validating a model per
sample costs seconds per run (3.5 s for 1,800 pairs here, more than the run itself
against a fast server), while a dict per sample costs milliseconds. The tests read every
log back with ``inspect_ai.log.read_eval_log``, which validates it against inspect's own
schema, so a format change in inspect shows up as a failing test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vscbench.files import write_json_atomic
from vscbench.results.store import LOG_DIR

TASK = "vscbench-run"
STOP_REASONS = ("stop", "max_tokens", "model_length", "tool_calls", "content_filter", "unknown")


def _log_name(created: str, fingerprint: str) -> str:
    return f"{created.replace(':', '-')}_{TASK}_{fingerprint[:12]}.json"


def _score(value: Any, explanation: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "value": "N" if value is None else int(bool(value)),
        "explanation": explanation,
        "metadata": metadata,
        "history": [],
    }


def _sample(record: Mapping[str, Any]) -> dict[str, Any]:
    prompt = record.get("prompt") or ""
    content: Any = prompt
    if record.get("image"):
        content = [
            {"type": "image", "image": str(record["image"]), "detail": "auto"},
            {"type": "text", "text": prompt},
        ]
    user = {"id": f"{record['id']}#user", "content": content, "role": "user"}
    error = record.get("error")
    sample: dict[str, Any] = {
        "id": str(record["id"]),
        "epoch": 1,
        "input": [user],
        "target": "",
        "messages": [user],
        "output": {"model": "", "choices": [], "completion": ""},
        "metadata": {
            key: record[key]
            for key in (
                "split",
                "variant",
                "group",
                "unsafe",
                "image",
                "row",
                "excluded",
                "truncated",
            )
            if record.get(key) is not None
        },
        "store": {},
        "events": [],
        "model_usage": {},
        "role_usage": {},
        "attachments": {},
    }
    if error or record.get("response") is None:
        sample["error"] = {"message": str(error), "traceback": "", "traceback_ansi": ""}
        return sample
    reply = {
        "id": f"{record['id']}#assistant",
        "content": record["response"],
        "source": "generate",
        "role": "assistant",
        "model": "",
    }
    stop = record.get("stop_reason") or "stop"
    sample["messages"] = [user, reply]
    sample["output"] = {
        "model": "",
        "choices": [{"message": reply, "stop_reason": stop if stop in STOP_REASONS else "unknown"}],
        "completion": record["response"],
    }
    usage = record.get("usage") or {}
    if usage:
        sample["output"]["usage"] = {
            "input_tokens": int(usage.get("input_tokens") or 0),
            "output_tokens": int(usage.get("output_tokens") or 0),
            "total_tokens": int(usage.get("input_tokens") or 0)
            + int(usage.get("output_tokens") or 0),
        }
    verdicts = dict(record.get("judges") or {})
    scores = {
        "aware": _score(
            record.get("aware"),
            record.get("judge_output") or record.get("judge_error"),
            {"judge": record.get("judge"), "label": record.get("judge_label")},
        )
    }
    for name, verdict in verdicts.items():
        scores[name] = _score(
            verdict.get("aware"),
            verdict.get("output") or verdict.get("error"),
            {"label": verdict.get("label"), "refusal": verdict.get("refusal")},
        )
    sample["scores"] = scores
    return sample


def write_inspect_log(
    run_dir: Path,
    records: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Any],
    config: Mapping[str, Any],
) -> Path:
    """Write (or replace) the run's inspect log; return its path."""
    created = str(config.get("created") or "1970-01-01T00:00:00+00:00")
    fingerprint = str(config.get("fingerprint") or "unknown")
    headline = metrics.get("headline") or {}
    counts = metrics.get("counts") or {}
    spec = {
        "eval_id": fingerprint[:22],
        "run_id": fingerprint[:22],
        "created": created,
        "task": TASK,
        "task_id": fingerprint[:22],
        "task_version": 0,
        "task_attribs": {},
        "task_args": {"fingerprint": fingerprint},
        "task_args_passed": {"fingerprint": fingerprint},
        "dataset": {"name": "vscbench", "samples": len(records)},
        "model": str(config.get("model")),
        "model_generate_config": {},
        "model_args": dict(config.get("model_args") or {}),
        "config": {},
        "packages": {},
        "metadata": {"identity": config.get("identity"), "judges": config.get("judges")},
    }
    log = {
        "version": 2,
        "status": "success",
        "eval": spec,
        "plan": {"name": "plan", "steps": [], "config": {}},
        "results": {
            "total_samples": len(records),
            "completed_samples": int(counts.get("scored", 0)),
            "scores": [
                {
                    "name": "aware",
                    "scorer": str(metrics.get("judge")),
                    "scored_samples": int(counts.get("scored", 0)),
                    "unscored_samples": int(counts.get("failed", 0)),
                    "params": {},
                    "metrics": {
                        key: {"name": key, "value": float(headline[key]), "params": {}}
                        for key in ("sra_u", "sra_s", "avg")
                        if headline.get(key) is not None
                    },
                    "metadata": {"basis": headline.get("basis")},
                }
            ],
        },
        "stats": {"started_at": created, "completed_at": created, "model_usage": {}},
        "invalidated": False,
        "tags": [],
        "metadata": {},
        "samples": [_sample(r) for r in records],
    }
    folder = run_dir / LOG_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _log_name(created, fingerprint)
    write_json_atomic(path, log, indent=None)
    for old in folder.glob(f"*_{TASK}_*.json"):  # a log of another identity is stale
        if old != path:
            old.unlink()
    return path
