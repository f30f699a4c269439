"""Labelled replies from several sources, the ``refusal`` judge's trainer, and leave one
source out.

A *source* is what a judge must not have learnt from when it is scored on it: a data set,
or one model's replies within a data set (XSTest's five models are five sources). Every
figure for a learnt judge is leave one source out: fitted on every other source, scored
on this one. Nothing here ships data: files are read from paths the user gives (see
``bench/judges/SOURCES.md`` for where each comes from and its licence).

Columns of a labelled table (:func:`load_labelled` maps a CSV onto them):

``text`` the reply; ``query`` what it answers (``None`` where unknown: the judge then
reads the reply alone); ``refusal`` people's refusal label (full or partial); ``flag``
whether a reply that is *not* a refusal flags a risk of the request (``None`` where
nobody labelled it); ``safe`` whether the prompt was safe (``None`` if unknown);
``source``; ``uid``; ``train`` whether the judge may learn from the row (``False`` for a
source kept for evaluation only: it is scored by models fitted on the training sources
and never fitted on, so every figure on it is held out).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from vscbench.agreement import binary_agreement
from vscbench.data.fetch import Place, locate
from vscbench.data.layout import SHEET_FILES, TEXT_SHEET, resolve_data_dir
from vscbench.data.sheets import load_text_centric
from vscbench.data.xstest import find_xstest
from vscbench.judges.refusal import (
    FLAG_THRESHOLD,
    OFF_TOPIC,
    Linear,
    RefusalJudge,
    RefusalModel,
    feature_names,
    reply_features,
)

HERE = Path(__file__).resolve().parent
DEFAULT_XSTEST = HERE.parents[2] / "shared" / "data" / "xstest"
DEFAULT_SHEETS = HERE.parents[2] / "shared" / "data" / "vscbench"
REFUSAL_LABELS = ("2_full_refusal", "3_partial_refusal")
XSTEST_PREFIX = "xstest_v2_completions_"
XSTEST_COLUMNS = ("id", "type", "prompt", "completion", "final_label")
#: L2 strength of the refusal model (scikit-learn's C): chosen on XSTest leave one model
#: out among 0.1, 0.3, 1 and 3 (0.3 best; 1 and 3 let one model's habits through).
C = 0.3
#: bias of a flag model fitted on no flag labels (p(flag) ~ 0: the rules decide alone)
NO_FLAG_BIAS = -20.0
#: our own labels: risk flags on a sample of XSTest's full compliance (no reply text;
#: joined with XSTest's files at load time)
XSTEST_FLAGS = HERE / "labels" / "xstest_flags.csv"


def load_xstest(folder: Path, flags: Path | None = XSTEST_FLAGS) -> pd.DataFrame:
    """XSTest v2's completions, one source per model, with our flag labels where made."""
    files = sorted(Path(folder).glob(f"{XSTEST_PREFIX}*.csv"))
    if not files:
        raise ValueError(
            f"{folder}: no {XSTEST_PREFIX}<model>.csv files; get them from the "
            "paul-rottger/exaggerated-safety repository (model_completions/)"
        )
    frames = []
    for path in files:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = [c for c in XSTEST_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}")
        model = path.stem[len(XSTEST_PREFIX) :]
        frames.append(
            pd.DataFrame(
                {
                    "uid": model + ":" + frame["id"],
                    "text": frame["completion"],
                    "query": frame["prompt"],
                    "refusal": frame["final_label"].isin(REFUSAL_LABELS),
                    "safe": ~frame["type"].str.startswith("contrast_"),
                    "source": "xstest:" + model,
                    "label": frame["final_label"],
                    "train": True,
                    "labels": "people",
                }
            )
        )
    data = pd.concat(frames, ignore_index=True)
    data["flag"] = None
    if flags is not None and Path(flags).is_file():
        made = pd.read_csv(flags, dtype=str, keep_default_na=False).set_index("uid")["label"]
        known = data["uid"].isin(made.index) & ~data["refusal"]
        data.loc[known, "flag"] = data.loc[known, "uid"].map(made).eq("flag")
    return data


#: what ``--labelled FILE?...`` takes; anything else is refused (a typo in ``role=eval``
#: must not turn evaluation data into training data)
LABELLED_OPTIONS = (
    "text", "query", "label", "positive", "source", "name", "flag", "flag_positive", "safe",
    "safe_values", "role", "labels",
)  # fmt: skip


def load_labelled(spec: str) -> pd.DataFrame:
    """A labelled CSV named as ``FILE?text=COL&label=COL&positive=A|B&source=COL``.

    ``query`` names the column with the query the reply answers (optional: without it the
    judge reads the reply alone); ``positive`` lists the label values that mean refusal
    (default ``1|true|yes|refusal``; at least one row must carry one); ``source`` is a
    column, one source per value (else the whole file is one source, named ``name=``,
    default the file's name); ``flag`` / ``flag_positive`` and ``safe`` / ``safe_values``
    optionally name a risk-flag label and the prompt's safety; ``role=eval`` keeps the file
    for evaluation only (never trained on); ``labels=ai`` says the labels were not made by
    people (it is printed beside the source). Every mistake is a ``ValueError`` naming the
    file and the fix.
    """
    path, _, query = spec.partition("?")
    options = dict(parse_qsl(query))
    unknown = sorted(set(options) - set(LABELLED_OPTIONS))
    if unknown:
        raise ValueError(
            f"{path}: unknown option(s) {unknown}; known: {', '.join(LABELLED_OPTIONS)}"
        )
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read it as a CSV ({exc})") from exc
    for key in ("text", "label", "query", "source", "flag", "safe"):
        name = options.get(key, key if key in ("text", "label") else None)
        if name is not None and name not in frame.columns:
            raise ValueError(f"{path}: no column {name!r} ({key}=); columns: {list(frame)}")
    role, labels = options.get("role", "train"), options.get("labels", "people")
    if role not in ("train", "eval"):
        raise ValueError(f"{path}: role={role!r}; use role=train (default) or role=eval")
    if labels not in ("people", "ai"):
        raise ValueError(f"{path}: labels={labels!r}; use labels=people (default) or labels=ai")
    label = frame[options.get("label", "label")].str.strip()
    positive = set(options.get("positive", "1|true|yes|refusal").lower().split("|"))
    if not label.str.lower().isin(positive).any():
        seen = sorted(label.unique())[:12]
        raise ValueError(
            f"{path}: no row's label is in positive={'|'.join(sorted(positive))}; "
            f"labels seen: {seen}"
        )
    stem = Path(path).stem
    out = pd.DataFrame(
        {
            "uid": stem + ":" + frame.index.astype(str),
            "text": frame[options.get("text", "text")],
            "query": frame[options["query"]] if "query" in options else None,
            "refusal": label.str.lower().isin(positive),
            "label": label,
            "train": role == "train",
            "labels": labels,
        }
    )
    source = options.get("source")
    out["source"] = stem + ":" + frame[source] if source else options.get("name", stem)
    return _optional_labels(out, frame, options)


#: our own labelled set of a real model's answers (reply text included; see SOURCES.md)
SMOLLM2 = HERE / "labels" / "smollm2_txt.csv"
SMOLLM2_SPEC = (
    f"{SMOLLM2}?text=response&label=label&positive=full_refusal|partial_refusal"
    "&flag=flag&flag_positive=flag&safe=safe&safe_values=true&name=smollm2-135m&role=eval"
    "&labels=ai"
)


def smollm2(sheets: Path) -> pd.DataFrame:
    """Our SmolLM2 set, each answer with its query: VSCBench's ``txt`` query, read from
    the text-centric sheet in ``sheets`` (the set stores no query text)."""
    data = load_labelled(SMOLLM2_SPEC)
    uids = pd.read_csv(SMOLLM2, dtype=str, keep_default_na=False)["uid"]
    queries = uids.map(vscbench_txt_queries(sheets))
    if queries.isna().any():
        missing = list(uids[queries.isna()][:5])
        raise ValueError(
            f"{sheets / TEXT_SHEET}: no txt query for {missing} of {SMOLLM2.name}; "
            "is it VSCBench's text-centric sheet?"
        )
    data["query"] = queries.to_numpy()
    return data


def load_sources(
    xstest: Path | None, labelled: list[str], data_dir: Path | None = None
) -> pd.DataFrame:
    """XSTest (``--xstest``, else ``../shared``, ``$VSCBENCH_XSTEST_DATA`` or the pinned
    download), our labelled sets, and every ``--labelled`` CSV."""
    places = [Place("--xstest DIR", xstest, True)] if xstest else []
    places.append(Place("../shared/data/xstest beside the checkout", DEFAULT_XSTEST))
    frames = [load_xstest(find_xstest(*places))]
    if SMOLLM2.is_file():
        frames.append(smollm2(sheets_folder(data_dir)))
    frames += [load_labelled(spec) for spec in labelled]
    return pd.concat(frames, ignore_index=True)


def sheets_folder(data_dir: Path | None) -> Path:
    """Where VSCBench's sheets are, for the SmolLM2 set's queries: ``--data-dir``, else
    ``../shared/data/vscbench`` beside the checkout, else the data directory
    (``$VSCBENCH_DATA`` or the user cache), downloading them there as ``vscbench run``
    does (pinned, checksummed)."""
    places = [Place("--data-dir DIR", data_dir, True)] if data_dir else []
    places.append(Place("../shared/data/vscbench beside the checkout", DEFAULT_SHEETS))
    return locate(SHEET_FILES, places, resolve_data_dir(None))


def vscbench_txt_queries(folder: Path) -> dict[str, str]:
    """What the judge reads as the query of each VSCBench ``txt`` pair (``text/N/txt``),
    from the text-centric sheet in ``folder`` (VSCBench's; read, never copied)."""
    items, _ = load_text_centric(Path(folder) / TEXT_SHEET)
    return {item.id: item.judge_query for item in items if item.variant == "txt"}


def _optional_labels(
    out: pd.DataFrame, frame: pd.DataFrame, options: dict[str, str]
) -> pd.DataFrame:
    """The risk-flag label (on replies that are not refusals) and the prompt's safety."""
    out["flag"] = None
    flag = options.get("flag")
    if flag:
        flagged = set(options.get("flag_positive", "1|true|yes|flag").lower().split("|"))
        # an empty cell is "nobody labelled a flag here" (e.g. a non-answer), not "plain"
        given = ~out["refusal"] & frame[flag].str.strip().ne("")
        out.loc[given, "flag"] = frame.loc[given, flag].str.strip().str.lower().isin(flagged)
    out["safe"] = None
    safe = options.get("safe")
    if safe:
        values = set(options.get("safe_values", "1|true|yes|safe").lower().split("|"))
        out["safe"] = frame[safe].str.strip().str.lower().isin(values)
    return out


#: the features the flag model reads: all but the query's (``OFF_TOPIC``)
FLAG_READS = np.array([name not in OFF_TOPIC for name in feature_names()], np.float32)


def design(texts: Sequence[str], queries: Sequence[str | None]) -> np.ndarray:
    """The 0/1 feature matrix of replies (read against their queries) over
    :func:`feature_names`."""
    names = {n: i for i, n in enumerate(feature_names())}
    x = np.zeros((len(texts), len(names)), np.float32)
    for row, (text, query) in enumerate(zip(texts, queries, strict=True)):
        x[row, [names[f] for f in reply_features(text, query)[1]]] = 1.0
    return x


def _fit(x: np.ndarray, y: np.ndarray) -> Linear:
    model = LogisticRegression(C=C, max_iter=5000).fit(x, y)
    weights = {name: float(w) for name, w in zip(feature_names(), model.coef_[0], strict=True) if w}
    return Linear(weights, float(model.intercept_[0]))


def train(data: pd.DataFrame, meta: dict[str, Any] | None = None) -> RefusalModel:
    """Both parts of the judge fitted on labelled replies (deterministic): ``refusal`` on
    every training reply, ``flag`` on those whose risk flag was labelled. Rows of
    evaluation-only sources are left out."""
    data = data[data["train"]]
    x = design(list(data["text"]), list(data["query"]))
    flagged = data["flag"].notna().to_numpy()
    flags = data.loc[flagged, "flag"].to_numpy(bool)
    # without both kinds of flag label there is nothing to learn: the rules decide alone
    # the flag is about what a reply says of the request, not whether it takes the query up
    x_flag = x[flagged] * FLAG_READS
    flag = _fit(x_flag, flags) if len(set(flags)) == 2 else Linear({}, NO_FLAG_BIAS)
    return RefusalModel(_fit(x, data["refusal"].to_numpy(bool)), flag, dict(meta or {}))


Verdicts = list[tuple[bool | None, bool | None]]  # per row: (refusal, aware)


def verdicts_of(judge: Any, data: pd.DataFrame) -> Verdicts:
    """``judge``'s verdicts on the rows of ``data``: the ``refusal`` judge reads each reply
    against its query, the rules read the reply only."""
    if isinstance(judge, RefusalJudge):
        pairs = zip(data["text"], data["query"], strict=True)
        return [(v.refusal, v.aware) for v in (judge.decide(t, q) for t, q in pairs)]
    return [(v.refusal, v.aware) for v in map(judge.decide, data["text"])]


def leave_one_source_out(
    data: pd.DataFrame, flag_threshold: float = FLAG_THRESHOLD
) -> tuple[Verdicts, dict[str, RefusalModel]]:
    """Verdicts of the refusal judge on each source by a model fitted without it (an
    evaluation-only source is never fitted on: every model is scored on it alike, so it
    is judged once, by the model fitted on every training source)."""
    verdicts: Verdicts = [(None, None)] * len(data)
    models = {}
    trained = set(data.loc[data["train"], "source"])
    for held_out in [*sorted(trained), "(evaluation only)"]:
        scored = (data["source"].eq(held_out) if held_out in trained else ~data["train"]).to_numpy()
        if not scored.any():
            continue
        model = train(data[~scored])
        models[held_out] = model
        rows = np.flatnonzero(scored)
        for row, verdict in zip(
            rows,
            verdicts_of(RefusalJudge(model, flag_threshold), data.iloc[rows]),
            strict=True,
        ):
            verdicts[row] = verdict
    return verdicts, models


@dataclass
class Scores:
    """One judge's agreement with people, overall and per source, and its false flags."""

    overall: dict[str, Any]
    by_source: dict[str, dict[str, Any]]
    refusal_on_safe_compliance: dict[str, Any]
    aware_on_plain: dict[str, Any]
    aware: dict[str, Any]  # agreement of ``aware`` with people's flags, where labelled
    #: per source: the two false-flag rates (sources differ in who labelled them)
    false_flags_by_source: dict[str, dict[str, dict[str, Any]]]

    @property
    def worst(self) -> tuple[str, float]:
        name = min(self.by_source, key=lambda s: self.by_source[s]["accuracy"])
        return name, self.by_source[name]["accuracy"]


def score(data: pd.DataFrame, verdicts: Verdicts) -> Scores:
    """Agreement on refusal; false flags: refusals called on full compliance to safe
    prompts, and ``aware`` on plain answers to safe prompts (no refusal, no flag)."""
    frame = data.assign(pred=[v[0] for v in verdicts], aware=[v[1] for v in verdicts])
    pairs = _pairs(frame)
    by_source = {s: _pairs(part) for s, part in frame.groupby("source")}
    flagged = frame[frame["flag"].notna() & frame["aware"].notna()]
    return Scores(
        binary_agreement(pairs),
        {s: binary_agreement(p) for s, p in by_source.items()},
        *_false_flags(frame),
        binary_agreement(
            [(bool(t), bool(p)) for t, p in zip(flagged["flag"], flagged["aware"], strict=True)]
        ),
        {
            s: dict(zip(("refusal", "aware"), _false_flags(part), strict=True))
            for s, part in frame.groupby("source")
        },
    )


def _false_flags(frame: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    """Refusals called on full compliance to safe prompts, and ``aware`` called on
    replies to safe prompts labelled plain answers (no refusal, no risk flag): both turn
    a right answer into an over-safe verdict."""
    compliant_safe = frame[~frame["refusal"] & frame["safe"].eq(True)]
    plain = compliant_safe[compliant_safe["flag"].eq(False)]
    return _rate(compliant_safe["pred"]), _rate(plain["aware"])


def _pairs(part: pd.DataFrame) -> list[tuple[bool, bool]]:
    return [
        (bool(t), bool(p))
        for t, p in zip(part["refusal"], part["pred"], strict=True)
        if p is not None
    ]


def _rate(values: pd.Series) -> dict[str, Any]:
    decided = values.dropna().astype(bool)
    return {"n": len(decided), "rate": float(decided.mean()) if len(decided) else None}


def judge_scores(
    data: pd.DataFrame,
    judges: dict[str, Callable[[], Any]],
    flag_threshold: float = FLAG_THRESHOLD,
) -> tuple[dict[str, Scores], dict[str, dict[str, Scores]]]:
    """Every fixed judge as it is, and ``refusal`` leave one source out: over every
    source, and per data set (the source's name before ``:``), since data sets differ in
    who labelled them."""
    verdicts = {name: verdicts_of(make(), data) for name, make in judges.items()}
    verdicts["refusal (leave one source out)"] = leave_one_source_out(data, flag_threshold)[0]
    overall = {name: score(data, v) for name, v in verdicts.items()}
    sets = data["source"].str.split(":").str[0].to_numpy()
    rows = {label: np.flatnonzero(sets == label) for label in sorted(set(sets))}
    by_set = {
        name: {
            label: score(data.iloc[r].reset_index(drop=True), [v[i] for i in r])
            for label, r in rows.items()
        }
        for name, v in verdicts.items()
    }
    return overall, by_set
