"""Calibration methods as plug-ins: the protocol, the spec grammar and the one registry.

A *prompt-level method* decides what the model is asked for one benchmark pair, in how
many turns, and what it prepares once, before the pairs, from the calibration side. It
works on every backend, because it only ever calls ``generate``. It is a class with:

* ``name``, ``version`` and ``description`` (one line), as class attributes;
* its parameters as keyword arguments of ``__init__`` with type hints and defaults
  (``--method name?k=v&k2=v2``; values are converted with pydantic; a ``Path``
  parameter is an input file, and its sha256 enters the run identity);
* ``async prepare(setup: Setup)``: what it asks or fits once (:class:`Setup` gives the
  model, a file to keep state in across resumes, and the calibration side's pairs);
* ``async respond(item, image, generate, trace) -> Answer``: one pair, any number of
  turns; what it puts in ``trace`` is kept with the pair's record;
* optionally ``learns = True`` (``prepare`` reads the calibration side: the run must
  then score the held-out side, ``--eval-on test``) and ``inputs() -> {name: sha256}``
  for content that defines its answers besides its parameters (its prompt texts).

An *activation-level intervention* (:class:`Intervention`) acts inside a local model
instead: it declares ``level = "activation"`` and ``applied(model)``, a context manager
that installs forward hooks on the loaded torch model for the prompt and every
generated token and removes them on exit. Its fitted state is an input file (a ``Path``
parameter, e.g. the vectors file of ``vscbench steer fit``), loaded when it is built and
hashed into its identity. Each pair is then asked plainly; only a local model
(``hf-vlm/``, ``hf-lm/``) can run one. The built-in ``steer`` (activation steering,
:class:`vscbench.models.steering.Steer`) is one, loaded and built like any other;
``--steer V --alpha A`` is only a way of writing ``steer?vectors=V&alpha=A``.

Its identity (name, version, parameters, hashes of its input files and texts) is part
of the run identity, so resuming a run under another method, version or input is refused.

Where methods come from: the built-ins (:data:`BUILTIN`, in :mod:`vscbench.methods`),
installed packages' entry points in the ``vscbench.methods`` group, and
``package.module:Name`` for a class on the Python path. All three are loaded, checked
and built the same way. A spec is ``NAME``, ``NAME:V`` (``V`` is the first parameter,
as in ``few-shot:2``) or ``NAME?k=v&k2=v2``, where ``NAME`` may be ``package.module:Name``.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlencode

from pydantic import TypeAdapter, ValidationError

from vscbench.files import sha256_file
from vscbench.items import Item

if TYPE_CHECKING:  # vscbench.chat needs the run schema, which checks methods here
    from vscbench.chat import Answer, Generate

__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "Bound",
    "Found",
    "Intervention",
    "MethodError",
    "PromptMethod",
    "Setup",
    "available",
    "bind",
    "input_files",
    "input_hashes",
    "level_of",
    "parse",
    "resolve",
    "respell",
    "shown",
    "spelled",
]

ENTRY_POINT_GROUP = "vscbench.methods"
#: The built-in methods, named as entry points are, and loaded the same way.
BUILTIN: dict[str, str] = {
    "none": "vscbench.methods:Plain",
    "reminder": "vscbench.methods:Reminder",
    "few-shot": "vscbench.methods:FewShot",
    "self-check": "vscbench.methods:SelfCheck",
    "steer": "vscbench.models.steering:Steer",
}
#: What a method class must have, by level (checked when it is loaded).
MEMBERS = {
    "prompt": ("name", "version", "description", "prepare", "respond"),
    "activation": ("name", "version", "description", "applied"),
}


class MethodError(ValueError):
    """A method spec that cannot be used: one line, naming the method and the fix."""


@dataclass
class Setup:
    """What a method gets once, before the pairs.

    ``calibration()`` returns the calibration side's pairs and their images; it is only
    offered to methods that declare ``learns = True``, whose runs score the test side,
    so what a method learns never comes from the pairs it is scored on.
    """

    generate: Generate
    state: Path  # a JSON file of the run directory, kept across resumes
    calibration: Callable[[], tuple[Sequence[Item], Mapping[str, Path | None]]]
    seed: int = 0  # the run's split seed, for any sampling the method does


@runtime_checkable
class PromptMethod(Protocol):
    """A prompt-level calibration method (see the module docstring)."""

    name: str
    version: str
    description: str

    async def prepare(self, setup: Setup) -> None: ...

    async def respond(
        self, item: Item, image: Path | None, generate: Generate, trace: dict[str, Any]
    ) -> Answer: ...


@runtime_checkable
class Intervention(Protocol):
    """An activation-level intervention on a local model (see the module docstring)."""

    name: str
    version: str
    description: str
    level: str  # "activation"

    def applied(self, model: Any) -> AbstractContextManager[None]: ...


@dataclass(frozen=True)
class Spec:
    """A parsed method spec: where the class is, and the parameters as given."""

    name: str  # a registered name, or package.module:Name
    params: dict[str, str] = field(default_factory=dict)
    positional: str | None = None  # NAME:V


def parse(spec: str) -> Spec:
    """The one parser of method specs (``NAME``, ``NAME:V``, ``NAME?k=v&...``)."""
    head, _, query = spec.strip().partition("?")
    try:
        params = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise MethodError(f"method {spec!r}: parameters go as ?key=value&key2=value2") from None
    left, colon, right = head.partition(":")
    if colon and left not in _registered() and right.isidentifier():
        return Spec(head, params)  # package.module:Name
    if colon and not right:
        raise MethodError(f"method {spec!r}: nothing after ':'")
    return Spec(left, params, right if colon else None)


def respell(spec: str, **changes: str) -> str:
    """``spec`` as ``NAME?k=v&...``, its ``NAME:V`` value named, with ``changes`` set.

    How a shorthand flag (``--steer V --alpha A`` is ``steer?vectors=V&alpha=A``) or a
    sweep's strength or resolved path becomes part of the one spec a run records. Not
    checked here: the result is checked like any spec when the run schema takes it.
    """
    given = parse(spec)
    raw = dict(given.params)
    if given.positional is not None:
        first = next(iter(parameters(_load(given.name))), None)
        if first is None:  # reported as "takes no parameters" when the spec is checked
            return spec
        raw = {first: given.positional, **raw}  # as _convert: a named value wins
    raw.update(changes)
    return f"{given.name}?{urlencode(raw, safe=',/:~')}" if raw else given.name


def spelled(value: Any) -> str:
    """A parameter's value as a spec spells it (``1,2`` for a list or tuple)."""
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def shown(params: Mapping[str, Any]) -> str:
    """Parameters as reports show them, ``k=v&k2=v2``: those left without a value
    (``None``, empty) are left out, as they say nothing about the run."""
    return "&".join(f"{k}={spelled(v)}" for k, v in params.items() if v not in (None, [], (), ""))


def level_of(method: Any) -> str:
    """A method's (class's or instance's) level: ``prompt`` unless it declares one."""
    return getattr(method, "level", "prompt")


def _registered() -> dict[str, str]:
    """Registered name -> ``module:attr`` (built-ins win over an entry point's name)."""
    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return {**found, **BUILTIN}


def _origin(name: str) -> str:
    if name in BUILTIN:
        return "built-in"
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            dist = ep.dist.name if ep.dist else "?"
            return f"entry point {ep.value} ({dist})"
    return "module on the Python path"


def _load(name: str) -> type:
    """The method class named ``name`` (registered, or ``package.module:Name``)."""
    target = _registered().get(name, name)
    module_name, colon, attr = target.partition(":")
    if not colon:
        known = ", ".join(sorted(_registered()))
        raise MethodError(
            f"unknown method {name!r}; choose from {known} (`vscbench methods` lists them), "
            "or give package.module:Name"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a plug-in's own bug is reported, not raised
        raise MethodError(
            f"method {name!r}: module {module_name} does not import "
            f"({type(exc).__name__}: {exc}); install it or fix PYTHONPATH"
        ) from None
    cls = getattr(module, attr, None)
    if cls is None:
        raise MethodError(f"method {name!r}: module {module_name} has no {attr}")
    level = level_of(cls)
    if level not in MEMBERS:
        raise MethodError(f"method {name!r}: level {level!r}; use prompt or activation")
    missing = [m for m in MEMBERS[level] if not hasattr(cls, m)]
    if missing:
        protocol = "PromptMethod" if level == "prompt" else "Intervention"
        raise MethodError(
            f"method {name!r}: {attr} is not a {level}-level method; it lacks "
            f"{', '.join(missing)} (see vscbench.plugins.{protocol})"
        )
    return cls


def parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The method's parameters: keyword arguments of its constructor."""
    return {
        p.name: p
        for p in inspect.signature(cls).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def _convert(spec: str, cls: type, given: Spec) -> dict[str, Any]:
    accepted = parameters(cls)
    raw = dict(given.params)
    if given.positional is not None:
        if not accepted:
            raise MethodError(f"method {spec!r}: {given.name} takes no parameters")
        raw.setdefault(next(iter(accepted)), given.positional)
    unknown = sorted(set(raw) - set(accepted))
    if unknown:
        takes = ", ".join(accepted) or "none"
        raise MethodError(
            f"method {spec!r}: unknown parameter(s) {', '.join(unknown)}; it takes: {takes}"
        )
    hints = typing.get_type_hints(cls.__init__, include_extras=True)
    values = {}
    for key, value in raw.items():
        try:
            values[key] = TypeAdapter(hints.get(key, str)).validate_python(value)
        except ValidationError as exc:
            why = exc.errors()[0]["msg"]
            raise MethodError(f"method {spec!r}: parameter {key}={value!r}: {why}") from None
    missing = [n for n, p in accepted.items() if p.default is p.empty and n not in values]
    if missing:
        raise MethodError(f"method {spec!r}: needs parameter(s) {', '.join(missing)}")
    return values


def resolve(spec: str) -> tuple[type, dict[str, Any]]:
    """Check ``spec`` without building the method: its class and converted parameters."""
    given = parse(spec)
    cls = _load(given.name)
    return cls, _convert(spec, cls, given)


def input_files(params: Mapping[str, Any]) -> dict[str, Path]:
    """A method's input files: its ``Path`` parameters, whose content (not their path)
    defines its answers, so it is what identities and sweep cells are named by."""
    return {key: value for key, value in params.items() if isinstance(value, Path)}


def input_hashes(spec: str, params: Mapping[str, Any]) -> dict[str, str]:
    """The sha256 of each input file of ``spec`` (converted ``params``); one that cannot
    be read is a :class:`MethodError` naming the method, the parameter and why."""
    hashes = {}
    for key, path in input_files(params).items():
        try:
            hashes[key] = sha256_file(path)
        except OSError as exc:
            raise MethodError(
                f"method {spec!r}: {key}={path}: cannot read ({exc.strerror})"
            ) from None
    return hashes


@dataclass
class Bound:
    """A built method with its identity; what the engine, utility and tasks run."""

    spec: str
    method: Any
    params: dict[str, Any]
    plain: Any = None  # how an intervention's pairs are asked (vscbench.methods.Plain)

    @property
    def learns(self) -> bool:
        return bool(getattr(self.method, "learns", False))

    @property
    def intervention(self) -> Any:
        """The method itself if it acts on activations (a local model's hooks), else None."""
        return self.method if level_of(self.method) == "activation" else None

    def identity(self) -> dict[str, Any]:
        """Name, version, parameters and the sha256 of every input file and text.

        A method may define ``identity()`` itself: the built-ins that existed before
        methods had versions keep the identity their runs recorded, so those resume.
        """
        own = getattr(self.method, "identity", None)
        if own is not None:
            return dict(own())
        files = input_hashes(self.spec, self.params)
        inputs = getattr(self.method, "inputs", None)
        return {
            "name": self.method.name,
            "version": str(self.method.version),
            "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in self.params.items()},
            "inputs": {**files, **(inputs() if inputs else {})},
        }

    def label(self) -> str:
        """How reports name it: ``name version`` (and its parameters)."""
        args = shown(self.params)
        return f"{self.method.name} {self.method.version}" + (f" ?{args}" if args else "")

    async def prepare(self, setup: Setup) -> None:
        if self.intervention is None:
            await self.method.prepare(setup)

    async def respond(
        self, item: Item, image: Path | None, generate: Generate, trace: dict[str, Any]
    ) -> Answer:
        # an intervention's hooks act inside generate: the pair itself is asked plainly
        method = self.method if self.intervention is None else self.plain
        return await method.respond(item, image, generate, trace)


def bind(spec: str, eval_on: str = "test", local: bool | None = None, plain: Any = None) -> Bound:
    """Build the method of ``spec``; one that learns needs ``eval_on == "test"``, an
    activation-level one a local model (``local``, when the model is known)."""
    cls, params = resolve(spec)
    if level_of(cls) == "activation" and local is False:
        raise MethodError(
            f"method {spec!r} acts on activations and needs a local model (hf-vlm/..., "
            "hf-lm/...); an API model can only run prompt-level methods"
        )
    if getattr(cls, "learns", False) and eval_on != "test":
        raise MethodError(
            f"method {spec!r} learns from the calibration side; score with --eval-on test"
        )
    try:
        method = cls(**params)
    except (TypeError, ValueError) as exc:
        raise MethodError(f"method {spec!r}: {exc}") from None
    return Bound(spec, method, params, plain)


@dataclass
class Found:
    """One row of ``vscbench methods``."""

    name: str
    origin: str
    description: str = ""
    version: str = ""
    parameters: str = ""
    error: str | None = None  # why it could not be loaded
    level: str = ""  # prompt or activation (an intervention on a local model)


def available() -> list[Found]:
    """Every registered method, loaded; one that fails is listed with the reason."""
    rows = []
    for name in sorted(_registered()):
        origin = _origin(name)
        try:
            cls = _load(name)
        except MethodError as exc:
            rows.append(Found(name, origin, error=str(exc)))
            continue
        params = ", ".join(
            p.name if p.default is p.empty else f"{p.name}={p.default}"
            for p in parameters(cls).values()
        )
        level = level_of(cls)
        rows.append(Found(name, origin, cls.description, str(cls.version), params, level=level))
    return rows
