"""The run schema: every option of a run, its default and its check, stated once.

A :class:`RunConfig` is composed of typed parts, and each step of a run takes only the
part it needs: :class:`Selection` (which pairs; :func:`vscbench.dataset.load_dataset`),
:class:`DataOptions` (where the data is, how images are made), :class:`Target` (the
model and how to reach it), :class:`Generation` (what defines the answers),
:class:`Requests` (how fast the model is asked), :class:`Judging` (the judge panel),
:class:`Prompting` (the method, prompt- or activation-level: a spec of the one
registry of :mod:`vscbench.plugins`). Validation happens here, once, with pydantic:
choices, ranges, finite numbers, and unknown keys refused with one line naming them.

Everything else is derived from the schema: ``config.json`` (:meth:`RunConfig.public`,
the flat layout every version wrote, so old run directories load with
:meth:`RunConfig.from_stored`), the run identity (:meth:`RunConfig.identity`) and the
``run:`` section of a sweep plan (any flat option but the model and method).
A new run option is one field on its part, plus its flag in :mod:`vscbench.commands`.

Flat names stay the public spelling: ``RunConfig(model=..., splits=("text",),
max_tokens=64)`` routes each name to its part, and ``config.max_tokens`` reads it back.
The steering flags (``steer``, ``alpha``, ``steer_layers``, ``gate``) are no part: they
spell the ``steer`` method's parameters (:data:`STEER_SHORTHAND`) and end up in its spec.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass

from vscbench.items import IMAGE_CATEGORIES, SPLITS, TEXT_VARIANTS, Item
from vscbench.plugins import parse, resolve, respell, spelled
from vscbench.redaction import redact_args, redact_url

#: The judge a run uses when none is named.
DEFAULT_JUDGE = "string-match"
EVAL_ON = ("all", "calibration", "test")
RenderMode = Literal["auto", "always", "never"]
RENDER_MODES: tuple[RenderMode, ...] = ("auto", "always", "never")


def split_list(value: Any) -> Any:
    """``"a, b"`` -> ``("a", "b")``; ``None`` -> ``()``; other sequences as they are.

    The one comma-list parser: flags, inspect task arguments and plans all pass here.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return value


Names = Annotated[tuple[str, ...], BeforeValidator(split_list)]
Numbers = Annotated[tuple[Annotated[int, Field(ge=0)], ...], BeforeValidator(split_list)]
PARTS_CONFIG = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def check_choices(name: str, given: tuple[str, ...], allowed: Sequence[str]) -> tuple[str, ...]:
    unknown = [g for g in given if g not in allowed]
    if unknown:
        raise ValueError(
            f"unknown {name}(s) {', '.join(map(repr, unknown))}; choose from {', '.join(allowed)}"
        )
    return given


#: Selection fields with a fixed list of values: field -> (what one is, the values).
_LISTED = {
    "splits": ("split", SPLITS),
    "variants": ("variant", TEXT_VARIANTS),
    "categories": ("category", IMAGE_CATEGORIES),
}


@dataclass(config=PARTS_CONFIG)
class Selection:
    """Which part of the benchmark to use; empty tuples mean "all"."""

    splits: Names = SPLITS
    variants: Names = TEXT_VARIANTS
    categories: Names = ()
    types: Names = ()  # XSTest types, checked against the sheet when it is read
    limit: int | None = None  # at most this many pairs per split (dataset.stratified_sample)
    eval_on: str = "all"  # or one side of the calibration/test split (vscbench.split)
    split_seed: int = 0
    calibration_fraction: float = 0.2

    @field_validator("splits", "variants", "categories")
    @classmethod
    def _known(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        name, allowed = _LISTED[info.field_name or ""]
        return check_choices(name, value, allowed)

    @field_validator("eval_on")
    @classmethod
    def _eval_on(cls, value: str) -> str:
        return check_choices("eval-on side", (value,), EVAL_ON)[0]

    @field_validator("limit")
    @classmethod
    def _limit(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"limit must be at least 1, got {value}")
        return value

    @field_validator("calibration_fraction")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not 0 < value < 1:
            raise ValueError(f"calibration fraction must be between 0 and 1, got {value}")
        return value

    def keeps(self, item: Item) -> bool:
        """Whether ``item`` is selected (its XSTest type is checked against the sheet)."""
        if item.split not in self.splits:
            return False
        if item.split == "image":
            return not self.categories or item.group in self.categories
        if item.variant not in self.variants:
            return False
        return not self.types or item.group in self.types


@dataclass(config=PARTS_CONFIG)
class DataOptions:
    data_dir: str | None = None  # else $VSCBENCH_DATA, else the user cache
    render: RenderMode = "auto"
    include_defective: bool = False
    skip_missing_images: bool = False


@dataclass(config=PARTS_CONFIG)
class Target:
    """The model and where it is; ``model_args`` go to the provider (secrets redacted)."""

    model: str
    base_url: str | None = None
    model_args: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(config=PARTS_CONFIG)
class Generation:
    """What defines the answers besides the model: part of the run identity."""

    temperature: Annotated[float, Field(ge=0)] | None = 0.0
    max_tokens: Annotated[int, Field(ge=1)] | None = 1024
    seed: int | None = None


@dataclass(config=PARTS_CONFIG)
class Requests:
    """How fast the model is asked: never part of the identity."""

    max_connections: Annotated[int, Field(ge=1)] = 16
    max_retries: Annotated[int, Field(ge=0)] = 5
    timeout: Annotated[int, Field(ge=1)] | None = None
    batch_size: Annotated[int, Field(ge=1)] = 8  # local models only
    # the provider's requests and tokens per minute, when known: paced from the start
    rpm: Annotated[float, Field(gt=0)] | None = None
    tpm: Annotated[float, Field(gt=0)] | None = None


@dataclass(config=PARTS_CONFIG)
class Judging:
    """The judge panel (the first is primary) and how LLM judges reach their model."""

    judges: Names = (DEFAULT_JUDGE,)
    judge_base_url: str | None = None
    judge_prompt: str | None = None
    judge_max_tokens: Annotated[int, Field(ge=1)] | None = None  # default per judge mode
    judge_cache: bool = True

    @field_validator("judges")
    @classmethod
    def _some(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one judge is needed")
        return value


@dataclass(config=PARTS_CONFIG)
class Prompting:
    """The method: a spec of the one registry (:mod:`vscbench.plugins`), prompt-level or
    activation-level (``steer``: activation steering of a local model)."""

    method: str = "none"
    reminder_file: str | None = None  # replaces the reminder's text

    @field_validator("method")
    @classmethod
    def _known(cls, value: str, info: ValidationInfo) -> str:
        # a stored config read by a command that never runs its method (``score``,
        # ``export-upstream``) is validated with ``resolve_methods`` false: a run made
        # with a plug-in stays readable where the plug-in is not installed
        if (info.context or {}).get("resolve_methods", True):
            resolve(value)  # loads and checks the method class and its parameters
        else:
            parse(value)  # still a well-formed spec
        return value


#: Part name -> its class, in ``config.json`` order.
PARTS: dict[str, type] = {
    "target": Target,
    "data": DataOptions,
    "selection": Selection,
    "judging": Judging,
    "generation": Generation,
    "requests": Requests,
    "prompting": Prompting,
}
#: Flat option name -> the part that holds it.
FLAT: dict[str, str] = {
    f.name: part for part, cls in PARTS.items() for f in dataclasses.fields(cls)
}
assert len(FLAT) == sum(len(dataclasses.fields(c)) for c in PARTS.values()), "a name twice"
#: Options a sweep plan's ``run:`` section may set (the cells set the rest).
PLAN_RUN_KEYS = frozenset(FLAT) - {"model", "method"}
#: The steering flags, each a parameter of the ``steer`` method: ``--steer V --alpha A``
#: is ``--method "steer?vectors=V&alpha=A"``. Old ``config.json`` files have them too.
STEER_SHORTHAND = {"steer": "vectors", "alpha": "alpha", "steer_layers": "layers", "gate": "gate"}
#: How the user spells each of them on the command line.
STEER_FLAGS = {"steer": "--steer", "alpha": "--alpha", "steer_layers": "--layers", "gate": "--gate"}


def with_steering(method: str, given: Mapping[str, Any]) -> str:
    """``method`` with the steering flags in ``given`` (flat names) as its parameters."""
    given = {k: v for k, v in given.items() if v not in (None, (), [])}
    if not given:
        return method
    if "steer" in given:
        if method != "none":
            raise ValueError(
                f"--steer is the method steer?vectors=...; it cannot be combined with "
                f"--method {method!r} (a run has one method)"
            )
        method = "steer"
    elif parse(method).name != "steer":
        flags = ", ".join(STEER_FLAGS[k] for k in given)
        raise ValueError(f"{flags}: parameter(s) of the steer method; give --steer VECTORS")
    return respell(method, **{STEER_SHORTHAND[k]: spelled(v) for k, v in given.items()})


def legacy_steering(stored: Mapping[str, Any]) -> str | None:
    """The steering an old ``config.json`` applied beside a prompt method, in words
    (``steering α=4, layers 14``); ``None`` for any other run.

    Before steering was the ``steer`` method, ``--method reminder --steer v.pt`` made one
    run of both. Such a run cannot be written as one method now, so it is named by both
    wherever it is shown, and its method is never run again as only one of them.
    """
    method = str(stored.get("method") or "none")
    if not stored.get("steer") or method == "none":
        return None
    words = [f"steering α={stored.get('alpha', 1.0):g}"]
    if stored.get("steer_layers"):
        words.append(f"layers {spelled(stored['steer_layers'])}")
    if stored.get("gate") is not None:
        words.append(f"gate {stored['gate']:g}")
    return ", ".join(words)


def refuse_legacy_steering(stored: Mapping[str, Any]) -> None:
    """Refuse to run again the method of an old run that steered beside a prompt method
    (resuming it, or measuring its utility): neither method alone made its answers."""
    steering = legacy_steering(stored)
    if steering is not None:
        method = stored.get("method")
        raise ValueError(
            f"this run steered beside {method} ({steering}), which is no longer one method; "
            "its answers can still be scored, reported and exported, but it cannot be run "
            f"again: start a new --out with --method {method} or with --steer alone"
        )


def _fields(part: Any) -> dict[str, Any]:
    """A part given as an instance or as a mapping, as a mapping (``{}`` for none)."""
    if part is None:
        return {}
    if dataclasses.is_dataclass(part) and not isinstance(part, type):
        return dataclasses.asdict(part)
    return dict(part)


def describe(error: ValidationError) -> str:
    """A validation error as one line: ``field: why; field: why``."""
    parts = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        where = ".".join(str(p) for p in item["loc"] if not isinstance(p, int))
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


class RunConfig(BaseModel):
    """Everything that defines a run. Secrets never belong here: they come from the env."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    target: Target
    data: DataOptions = Field(default_factory=DataOptions)
    selection: Selection = Field(default_factory=Selection)
    judging: Judging = Field(default_factory=Judging)
    generation: Generation = Field(default_factory=Generation)
    requests: Requests = Field(default_factory=Requests)
    prompting: Prompting = Field(default_factory=Prompting)

    @model_validator(mode="before")
    @classmethod
    def _route_flat_names(cls, data: Any) -> Any:
        """Flat names into their parts (over whole parts given); steering flags into
        the ``steer`` method's spec."""
        if not isinstance(data, Mapping):
            return data
        unknown = sorted(k for k in data if k not in PARTS and k not in FLAT | STEER_SHORTHAND)
        if unknown:
            raise ValueError(f"unknown run setting(s) {unknown}")
        parts = {name: data[name] for name in PARTS if name in data}
        for name, value in data.items():
            if name in FLAT:
                part = FLAT[name]
                parts[part] = {**_fields(parts.get(part)), name: value}
        steering = {k: data[k] for k in STEER_SHORTHAND if k in data}
        if steering:
            prompting = _fields(parts.get("prompting"))
            method = with_steering(str(prompting.get("method") or "none"), steering)
            parts["prompting"] = {**prompting, "method": method}
        return parts

    def __getattr__(self, name: str) -> Any:
        if name in FLAT:
            return getattr(getattr(self, FLAT[name]), name)
        return super().__getattr__(name)  # type: ignore[misc]

    def __setattr__(self, name: str, value: Any) -> None:
        if name in FLAT:
            setattr(getattr(self, FLAT[name]), name, value)
        else:
            super().__setattr__(name, value)

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any], method_runs: bool = True) -> RunConfig:
        """The config of a ``config.json`` (any version's: the flat layout, extra keys
        such as ``created`` or ``identity`` set aside; the steering keys of a version
        before steering was a method become the ``steer`` method's spec).

        ``method_runs`` is false for commands that only read the stored answers (``score``,
        ``export-upstream``): the method is then not loaded (a plug-in need not be
        installed where a run is scored), and an old run that steered beside a prompt
        method reads as that prompt method; otherwise it is refused
        (:func:`refuse_legacy_steering`).
        """
        if method_runs:
            refuse_legacy_steering(stored)
        steered = stored.get("steer") and legacy_steering(stored) is None
        legacy = STEER_SHORTHAND if steered else {}  # else their defaults, or set aside
        return cls.model_validate(
            {k: v for k, v in stored.items() if k in FLAT or k in legacy},
            context={"resolve_methods": method_runs},
        )

    def public(self) -> dict[str, Any]:
        """The config as recorded in ``config.json``: flat, secrets redacted."""
        out: dict[str, Any] = {}
        for name in PARTS:
            for key, value in dataclasses.asdict(getattr(self, name)).items():
                out[key] = list(value) if isinstance(value, tuple) else value
        out["model_args"] = redact_args(self.target.model_args)
        for url in ("base_url", "judge_base_url"):
            out[url] = redact_url(out[url])
        return out

    def identity(self, data_sha256: Mapping[str, str], method: Mapping[str, Any]) -> dict:
        """Everything that defines a run's answers (see :mod:`vscbench.results.identity`):
        this config's selection, data, model and generation, the sheets' checksums and
        the method's own identity (the content of its inputs; steering's too)."""
        s = self.selection
        return {
            "selection": {
                **{k: list(getattr(s, k)) for k in ("splits", "variants", "categories", "types")},
                # a sample, not the first N: recorded so runs limited the old way are refused
                "limit": None if s.limit is None else {"n": s.limit, "sample": "stratified"},
                "eval_on": s.eval_on,
                "split_seed": s.split_seed,
                "calibration_fraction": s.calibration_fraction,
                "include_defective": self.data.include_defective,
                "skip_missing_images": self.data.skip_missing_images,
            },
            "data": {"sha256": dict(sorted(data_sha256.items())), "render": self.data.render},
            "model": {"name": self.target.model, "args": redact_args(self.target.model_args)},
            "generation": dataclasses.asdict(self.generation),
            "method": dict(method),
            # steering's place before it was a method; kept (always null) so the runs of
            # every other method keep their fingerprint (results.identity.upgrade)
            "steering": None,
        }


class RayOptions(BaseModel):
    """A plan's ``ray:`` section, used with ``--ray-address``: what one cell asks of a
    node, and the ``runtime_env`` given to ``ray.init`` (e.g. ``working_dir`` or
    ``py_modules`` to ship a plug-in's module to workers that lack it)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    gpus_per_cell: Annotated[float, Field(ge=0)] = 0.0
    cpus_per_cell: Annotated[float, Field(ge=0)] = 1.0
    runtime_env: dict[str, Any] = {}


class Plan(BaseModel):
    """A sweep plan (YAML): models × methods × strengths (see :mod:`vscbench.sweep`)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    out: str = "sweep"
    data_dir: str | None = None
    models: Annotated[list[str], Field(min_length=1)]
    methods: Annotated[list[str], Field(min_length=1)]
    strengths: list[float] = [1.0]  # alphas, for methods with an alpha parameter (steer)
    run: dict[str, Any] = {}
    utility: dict[str, Any] = {}
    ray: RayOptions = Field(default_factory=RayOptions)

    @field_validator("run")
    @classmethod
    def _run_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - PLAN_RUN_KEYS)
        if unknown:
            raise ValueError(f"unknown run setting(s) {unknown}")
        return value

    @field_validator("methods", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return [str(v) for v in value] if isinstance(value, list) else value
