"""The record of one pair: what was asked, what came back, and every judge's verdict.

A line of ``samples.jsonl`` holds the pair (``id``, ``split``, ``variant``, ``group``,
``unsafe``, ``prompt``, ``image``, ``judge_query``, ``row``), the answer (``response``,
``truncated``, ``error``, ``stop_reason``, ``usage``, and ``method_trace`` where a method
kept one), and the verdicts: ``judge`` names the primary judge and ``judges`` holds every
judge's verdict (``aware``, ``refusal``, ``label``, ``output``, ``error``), the primary
one included, stored once. Imported runs add ``upstream`` and ``excluded``.

In memory a record also carries the primary verdict under the names older files stored
it (``aware``, ``judge_label``, ``judge_output``, ``judge_error``, ``judge_refusal``), so
that counting and reading need not look it up: :func:`from_line` derives them (and
reads files written before, which stored them flat, some without ``judges``), and
:func:`to_line` leaves them out again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from vscbench.items import Item

#: Longest reply kept, in characters (about 4,000 tokens, four times the default
#: --max-tokens). A server that ignores max_tokens can send megabytes; what is kept is
#: what the judges see, and the record says ``truncated``.
REPLY_CAP_CHARS = 16_000


class Verdict(TypedDict):
    aware: bool | None
    refusal: bool | None
    label: str | None
    output: str | None
    error: str | None


class Record(TypedDict, total=False):
    id: str
    split: str
    variant: str
    group: str
    unsafe: bool
    prompt: str
    image: str | None
    judge_query: str
    row: int | None
    response: str | None
    truncated: bool | None
    error: str | None
    stop_reason: str | None
    usage: dict[str, int] | None
    judge: str | None  # the primary judge
    judges: dict[str, Verdict] | None  # every judge's verdict, the primary one included
    method_trace: dict[str, Any]
    excluded: str
    upstream: dict[str, str]


#: The primary verdict's fields as records show them in memory: name -> verdict key.
PRIMARY_VIEW = {
    "aware": "aware",
    "judge_refusal": "refusal",
    "judge_label": "label",
    "judge_output": "output",
    "judge_error": "error",
}
ANSWER_FIELDS = ("response", "truncated", "error", "stop_reason", "usage")


def cap_reply(text: str) -> tuple[str, bool]:
    """``text`` cut to :data:`REPLY_CAP_CHARS`, and whether it was cut."""
    return (text[:REPLY_CAP_CHARS], True) if len(text) > REPLY_CAP_CHARS else (text, False)


def new_record(item: Item, image: str | None) -> dict[str, Any]:
    """A record for ``item`` with nothing generated or judged yet."""
    record: dict[str, Any] = {
        "id": item.id,
        "split": item.split,
        "variant": item.variant,
        "group": item.group,
        "unsafe": item.unsafe,
        "prompt": item.prompt,
        "image": image,
        "judge_query": item.judge_query,
        "row": item.row,
        **dict.fromkeys(ANSWER_FIELDS),
    }
    set_verdicts(record, None, None)
    return record


def set_verdicts(
    record: dict[str, Any], primary: str | None, verdicts: Mapping[str, Verdict] | None
) -> None:
    """Store every judge's verdict once, and show the primary one's in the record."""
    record["judge"] = primary
    record["judges"] = dict(verdicts) if verdicts is not None else None
    first: Mapping[str, Any] = (verdicts or {}).get(primary or "") or {}
    for name, key in PRIMARY_VIEW.items():
        record[name] = first.get(key)


def verdicts_of(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every judge's verdict on a record, the primary one included (files written before
    every judge was kept held the primary verdict only in the flat fields)."""
    verdicts = {k: dict(v) for k, v in (record.get("judges") or {}).items() if v}
    primary = record.get("judge")
    if primary and primary not in verdicts:
        verdicts[primary] = {key: record.get(name) for name, key in PRIMARY_VIEW.items()}
    return verdicts


def from_line(line: Any) -> dict[str, Any] | None:
    """A record from a line of ``samples.jsonl`` (any version's), or ``None``."""
    if not isinstance(line, dict) or not isinstance(line.get("id"), str):
        return None
    record = dict(line)
    verdicts = verdicts_of(record) if record.get("judge") else record.get("judges")
    set_verdicts(record, record.get("judge"), verdicts)
    return record


def to_line(record: Mapping[str, Any]) -> dict[str, Any]:
    """What ``samples.jsonl`` stores: the record without the primary verdict's view."""
    return {k: v for k, v in record.items() if k not in PRIMARY_VIEW}
