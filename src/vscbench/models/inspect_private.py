"""The two places vscbench leans on inspect_ai internals, each behind one function.

inspect_ai does not export these; ``tests/test_models.py`` calls both against the
installed inspect, so a change there fails that test loudly instead of silently
changing a run.
"""

from __future__ import annotations

from typing import Any


def prerequisite_error() -> type[Exception]:
    """The exception inspect raises for a missing setup step (e.g. no OPENAI_API_KEY)."""
    from inspect_ai._util.error import PrerequisiteError

    return PrerequisiteError


def is_default_mock(api: Any) -> bool:
    """Whether ``api`` is inspect's mockllm giving its default reply (no custom outputs).

    Its default reply leaves token usage empty, which makes inspect count tokens with a
    tokenizer it downloads (and so fails offline).
    """
    from inspect_ai.model._providers.mockllm import MockLLM

    code = getattr(getattr(api, "outputs", None), "gi_code", None)
    return isinstance(api, MockLLM) and code is not None and code.co_filename.endswith("mockllm.py")
