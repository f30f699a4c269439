"""Chat value types shared by every backend, method and judge.

A conversation is a list of :class:`Turn`; a backend turns it into an :class:`Answer`.
These types live apart from the backends (:mod:`vscbench.models`) so that methods,
judges and the run loop speak to any model without importing one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vscbench.config import Requests

if TYPE_CHECKING:
    from vscbench.plugins import Intervention

_REQUESTS = Requests()  # the defaults of how a model is asked, stated in vscbench.config


@dataclass
class Settings:
    """Generation settings every backend takes; ``None`` means the provider's default."""

    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    max_connections: int = _REQUESTS.max_connections
    max_retries: int | None = _REQUESTS.max_retries
    timeout: int | None = _REQUESTS.timeout
    batch_size: int = _REQUESTS.batch_size  # local models only
    # an activation-level method (``steer`` or a plug-in's): local models only
    steering: Intervention | None = None
    rpm: float | None = _REQUESTS.rpm  # the provider's limits, when known (API models)
    tpm: float | None = _REQUESTS.tpm


@dataclass(frozen=True)
class Answer:
    """A model's reply: text, why it stopped, token usage, and any provider error."""

    text: str
    stop_reason: str
    usage: dict[str, int] | None = None
    error: str | None = None


@dataclass(frozen=True)
class Turn:
    """One message: system, user (optionally with an image) or assistant."""

    role: str
    text: str
    image: Any = None  # a file path, or a PIL image (inspect hands images over decoded)


Conversation = Sequence[Turn]
#: a conversation -> the model's next answer
Generate = Callable[[Conversation], Awaitable[Answer]]


class FatalModelError(RuntimeError):
    """A failure that every further request would repeat: stop the run, name the cause.

    Wrong or missing credentials (401/403), an unknown model or endpoint (404) and an
    unreachable server are not properties of one pair; going on would only send (and,
    with a wrong key, bill) thousands of requests that fail the same way.
    """


class ModelCallError(RuntimeError):
    """One request failed after the backend's own retries; ``str()`` is the cause as
    records show it (``HTTP 500 InternalServerError: ...``). Recorded, never judged."""


def ask(prompt: str, image: Any = None) -> list[Turn]:
    """The benchmark's default conversation: one user turn, image first."""
    return [Turn("user", prompt, image)]


def answer_problem(answer: Answer) -> str | None:
    """Why an answer is not one (error, blocked, empty), or ``None``.

    Such an answer is recorded as a failure and never judged: it is neither a refusal
    nor a compliance.
    """
    if answer.error:
        return f"model error: {answer.error}"
    if answer.stop_reason == "content_filter":
        return "blocked by the provider's content filter"
    if not answer.text.strip():
        return f"empty response (stop_reason={answer.stop_reason})"
    return None
