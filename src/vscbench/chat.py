"""Chat value types shared by every backend, method and judge.

A conversation is a list of :class:`Turn`; a backend turns it into an :class:`Answer`.
These types live apart from :mod:`vscbench.providers` (API backends) and
:mod:`vscbench.local` (in-process models) so that neither has to import the other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Settings:
    """Generation settings common to both backends; ``None`` means provider default."""

    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    max_connections: int = 16
    max_retries: int | None = 5
    timeout: int | None = None
    batch_size: int = 8  # local models only
    steering: Any = None  # local models only: a vscbench.local.steering.Steering
    rpm: float | None = None  # the provider's limits as the user knows them (API models)
    tpm: float | None = None


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
