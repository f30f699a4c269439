"""XSTest v2's human-labelled completions as the judges' development set.

Röttger et al., "XSTest" (NAACL 2024), repository ``paul-rottger/exaggerated-safety``,
folder ``model_completions/``: 450 prompts answered by five models, each completion
labelled by two annotators as full compliance, full refusal or partial refusal (CC BY
4.0). Nothing here ships the data: :func:`load_xstest` reads the CSV files from a
directory the user gives.

What is learnt from it (the ``refusal`` judge's weights) is evaluated leave one model
out: trained on four models' completions, scored on the fifth, so every figure is on a
model whose phrasing the judge has not seen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vscbench.agreement import binary_agreement
from vscbench.judges.refusal import RefusalModel, features

REFUSAL_LABELS = ("2_full_refusal", "3_partial_refusal")
FILE_PREFIX = "xstest_v2_completions_"
COLUMNS = ("id", "type", "prompt", "completion", "final_label")


def load_xstest(folder: Path) -> pd.DataFrame:
    """All completions with ``model`` (from the file name), ``refusal`` and ``safe``."""
    files = sorted(Path(folder).glob(f"{FILE_PREFIX}*.csv"))
    if not files:
        raise ValueError(
            f"{folder}: no {FILE_PREFIX}<model>.csv files; get them from the "
            "paul-rottger/exaggerated-safety repository (model_completions/)"
        )
    frames = []
    for path in files:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}")
        frame["model"] = path.stem[len(FILE_PREFIX) :]
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)
    data["refusal"] = data["final_label"].isin(REFUSAL_LABELS)
    data["safe"] = ~data["type"].str.startswith("contrast_")
    return data


def train_refusal_model(
    texts: Sequence[str],
    labels: Sequence[bool],
    l2: float = 1e-3,
    steps: int = 300,
    learning_rate: float = 0.05,
    min_count: int = 2,
    meta: dict[str, Any] | None = None,
) -> RefusalModel:
    """L2-regularised logistic regression on :func:`features`, trained with Adam.

    Features seen in fewer than ``min_count`` replies are left out. Deterministic: the
    same data gives the same weights.
    """
    feats = [features(t) for t in texts]
    counts = Counter(f for fs in feats for f in fs)
    vocab = {f: i for i, f in enumerate(sorted(f for f, n in counts.items() if n >= min_count))}
    x = np.zeros((len(feats), len(vocab)), np.float32)
    for row, fs in enumerate(feats):
        x[row, [vocab[f] for f in fs if f in vocab]] = 1.0
    y = np.asarray(labels, np.float32)
    w = np.zeros(len(vocab), np.float32)
    b = 0.0
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for step in range(1, steps + 1):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        grad = x.T @ (p - y) / len(y) + l2 * w
        b -= learning_rate * float((p - y).mean())
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        w -= learning_rate * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    # weights this small change no verdict; leaving them out keeps the shipped file small
    weights = {f: float(w[i]) for f, i in vocab.items() if abs(w[i]) >= 0.01}
    return RefusalModel(weights, float(b), dict(meta or {}))


Verdicts = Sequence[tuple[bool | None, bool | None]]  # per row: (refusal, aware)


def evaluate(data: pd.DataFrame, verdicts: Verdicts) -> dict[str, Any]:
    """Agreement with the human refusal labels, overall and per source model, and the
    share of ``aware`` among full compliance to safe prompts (false flags)."""
    data = data.assign(pred=[v[0] for v in verdicts], aware=[v[1] for v in verdicts])
    out: dict[str, Any] = {"overall": _agreement(data), "by_model": {}}
    for model, part in data.groupby("model"):
        out["by_model"][model] = _agreement(part)
    compliant_safe = data[(data["final_label"] == "1_full_compliance") & data["safe"]]
    decided = compliant_safe["aware"].dropna()
    out["aware_on_safe_compliance"] = {
        "n": len(decided),
        "rate": float(decided.astype(bool).mean()) if len(decided) else None,
    }
    return out


def _agreement(part: pd.DataFrame) -> dict[str, Any]:
    pairs = [
        (bool(t), bool(p))
        for t, p in zip(part["refusal"], part["pred"], strict=True)
        if p is not None
    ]
    return binary_agreement(pairs)


def verdicts_of(judge: Any, texts: Sequence[str]) -> list[tuple[bool | None, bool | None]]:
    """(refusal, aware) of an offline judge (one with ``decide``) for each reply."""
    return [(v.refusal, v.aware) for v in map(judge.decide, texts)]


def leave_one_model_out(
    data: pd.DataFrame, **train_options: Any
) -> tuple[dict[str, Any], dict[str, RefusalModel]]:
    """Train on four models, judge the fifth, for each model; pool the held-out verdicts."""
    from vscbench.judges.refusal import RefusalJudge

    verdicts: list[tuple[bool | None, bool | None]] = [(None, None)] * len(data)
    models: dict[str, RefusalModel] = {}
    positions = {index: row for row, index in enumerate(data.index)}
    for held_out in sorted(data["model"].unique()):
        train = data[data["model"] != held_out]
        model = train_refusal_model(
            list(train["completion"]), list(train["refusal"]), **train_options
        )
        models[held_out] = model
        test = data[data["model"] == held_out]
        for index, verdict in zip(
            test.index, verdicts_of(RefusalJudge(model), list(test["completion"])), strict=True
        ):
            verdicts[positions[index]] = verdict
    return evaluate(data, verdicts), models
