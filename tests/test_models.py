"""The models package: name grammar, backends and their extras, error classification,
and the inspect internals it leans on (these tests fail loudly when inspect changes)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import openai
import pytest

from vscbench.chat import FatalModelError, ModelCallError, ask
from vscbench.models.errors import guarded, http_fatal
from vscbench.models.inspect_private import is_default_mock, prerequisite_error
from vscbench.models.names import kind_of, local_id, openai_api_parts
from vscbench.models.registry import BACKENDS, LOCAL, Extra, backend_for


def test_names_pick_backends_and_their_extras() -> None:
    assert [kind_of(m) for m in ("hf-vlm/x", "hf-lm/y.gguf", "openai-api/v/m", "openai/g")] == [
        "hf-vlm",
        "hf-lm",
        "openai-api",
        "inspect",
    ]
    assert {k for k, b in BACKENDS.items() if b.extra is LOCAL} == {"hf-vlm", "hf-lm"}
    assert backend_for("mockllm/model").extra is None
    assert local_id("hf-lm/a/b") == "a/b"
    assert openai_api_parts("openai-api/my-srv/org/m") == (
        "my-srv",
        "org/m",
        "MY_SRV_API_KEY",
        "MY_SRV_BASE_URL",
    )
    with pytest.raises(ValueError, match="openai-api/<service>/<model>"):
        openai_api_parts("openai-api/x")
    missing = Extra("demo", needs=("no_such_module_here",), packages=())
    with pytest.raises(
        ValueError, match=r'needs no_such_module_here.*pip install "vscbench\[demo\]"'
    ):
        missing.require("this")


def _failing(exc: BaseException):  # a backend call that fails with ``exc``
    async def generate(turns):
        raise exc

    return guarded(generate, http_fatal, "http://server/v1")


def test_backends_classify_their_own_failures() -> None:
    request = httpx.Request("POST", "http://server/v1/chat/completions")
    denied = openai.AuthenticationError(
        "no", response=httpx.Response(401, request=request), body=None
    )
    with pytest.raises(FatalModelError, match="HTTP 401, authentication failed"):
        asyncio.run(_failing(denied)(ask("hi")))
    with pytest.raises(FatalModelError, match="server unreachable"):
        asyncio.run(_failing(openai.APIConnectionError(request=request))(ask("hi")))
    broken = openai.InternalServerError(
        "boom", response=httpx.Response(500, request=request), body=None
    )
    with pytest.raises(ModelCallError, match=r"^HTTP 500 InternalServerError: boom"):
        asyncio.run(_failing(broken)(ask("hi")))
    with pytest.raises(ModelCallError, match=r"^ValueError: odd"):
        asyncio.run(_failing(ValueError("odd"))(ask("hi")))


def test_inspect_prerequisite_error_is_where_we_look(monkeypatch: pytest.MonkeyPatch) -> None:
    from inspect_ai.model import get_model

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(prerequisite_error()):
        get_model("openai/gpt-4o-mini")


def test_inspect_default_mock_is_recognised() -> None:
    from inspect_ai.model import get_model

    from vscbench.models.inspect_api import dry_run_output

    assert is_default_mock(get_model("mockllm/model").api)
    assert not is_default_mock(get_model("mockllm/model", custom_outputs=dry_run_output).api)
    assert not is_default_mock(object())


def test_api_backends_import_no_torch() -> None:
    """A run against an API never imports torch or transformers (start-up, throughput)."""
    code = (
        "import sys, vscbench.commands, vscbench.engine, vscbench.models.openai_api;"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr
