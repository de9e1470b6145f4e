"""Per-run token metering: every generation a model produces while a :class:`TokenMeter` is active is counted.

Models are shared between runs (threads, asyncio tasks), so the count cannot live on the model: a run activates
its own meter around each model step (``with meter.active(): ...``), in a :mod:`contextvars` variable that is
private to the thread or task doing the step. Local backends and the OpenAI-compatible backend call
:func:`record` for each generation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentslm.telemetry import RunSpan, model_step_span

if TYPE_CHECKING:
    from agentslm.models.base import Generation

__all__ = ["ModelStep", "TokenMeter", "record", "recording_steps"]

_ACTIVE: ContextVar[TokenMeter | None] = ContextVar("agentslm_token_meter", default=None)
_STEPS: ContextVar[list[ModelStep] | None] = ContextVar("agentslm_model_steps", default=None)
_ROLE: ContextVar[str] = ContextVar("agentslm_model_role", default="")


@dataclass(frozen=True)
class ModelStep:
    """One generation with what it was asked (recorded inside :func:`recording_steps`)."""

    model: str
    """The model's name (a view with its adapter switched off has the base file's name)."""
    prompt: tuple[int, ...]
    """The prompt's token ids (empty where the backend does not expose them)."""
    generation: Generation


@contextmanager
def recording_steps() -> Iterator[list[ModelStep]]:
    """Collect every generation made in this block (in this thread / task), with its prompt tokens: what a
    latency benchmark replays on raw llama.cpp."""
    steps: list[ModelStep] = []
    token = _STEPS.set(steps)
    try:
        yield steps
    finally:
        _STEPS.reset(token)


class TokenMeter:
    """Tokens generated and prompt tokens evaluated by the model steps of one run; with ``trace`` (the run's
    OpenTelemetry span), each step is also recorded as a ``chat`` span under it."""

    def __init__(self, trace: RunSpan | None = None) -> None:
        self.trace = trace
        self.generated = 0
        self.prompt = 0
        self.generations = 0
        self._lock = threading.Lock()

    def add(self, generation: Generation) -> None:
        with self._lock:
            self.generated += generation.completion_tokens
            self.prompt += generation.prompt_tokens
            self.generations += 1

    @contextmanager
    def active(self, role: str = "") -> Iterator[TokenMeter]:
        """Count the generations made inside this block (in this thread / task); ``role`` (planner, summarizer)
        names the steps in traces."""
        token = _ACTIVE.set(self)
        role_token = _ROLE.set(role)
        try:
            yield self
        finally:
            _ROLE.reset(role_token)
            _ACTIVE.reset(token)


def record(generation: Generation, *, model: str = "", prompt: tuple[int, ...] = (), provider: str = "") -> None:
    """Count ``generation`` on the meter active in this context, if any, trace it under the meter's run, and add it
    to the steps being recorded (called by the model backends; ``provider``: llama.cpp, transformers, openai)."""
    meter = _ACTIVE.get()
    if meter is not None:
        meter.add(generation)
        if meter.trace is not None:
            model_step_span(
                generation, model=model or "model", provider=provider or "agentslm", role=_ROLE.get(), parent=meter.trace
            )
    steps = _STEPS.get()
    if steps is not None:
        steps.append(ModelStep(model=model, prompt=prompt, generation=generation))
