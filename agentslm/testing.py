"""Models for testing agents without a language model: scripted replies, or replies computed by a function.

Use them to test your own tools, validators, approvals and budgets deterministically::

    from agentslm import Agent
    from agentslm.testing import ScriptedModel

    model = ScriptedModel(plans=[[{"name": "get_weather", "arguments": {"city": "Paris"}}]], answers=["18 C in Paris."])
    run = Agent(model, [get_weather]).run("Weather in Paris?")

A planning step asks for output under a JSON Schema (the plan grammar); an answer step asks for free text. These
models answer the first kind from ``plans`` and the second from ``answers``; they record every prompt and schema so a
test can check what the agent asked. They carry no token probabilities (the confidence signals stay empty).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agentslm.models.base import Generation, Message, Model
from agentslm.usage import record

__all__ = ["FunctionModel", "ScriptedModel"]


class FunctionModel(Model):
    """Replies computed by ``function(messages, schema)`` (``schema`` is ``None`` for free text)."""

    def __init__(self, function: Callable[[Sequence[Message], Mapping[str, Any] | None], str], *, name: str = "function") -> None:
        self.function = function
        self.name = name
        self.prompts: list[list[Message]] = []
        """Every prompt this model was given, in order."""
        self.schemas: list[Mapping[str, Any] | None] = []
        """The schema of each step (``None`` for free text)."""

    def generate(
        self,
        messages: Sequence[Message],
        *,
        schema: Mapping[str, Any] | None = None,
        max_tokens: int = 512,
        temperature: float = 0.0,
        seed: int | None = None,
        engine: str | None = None,
        response_prefix: str = "",
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> Generation:
        self.prompts.append(list(messages))
        self.schemas.append(schema)
        started = time.perf_counter()
        generation = Generation(text=self.function(messages, schema))
        generation.seconds = time.perf_counter() - started
        record(generation, model=self.name, provider="agentslm.testing")  # counted and traced like a real step
        return generation


class ScriptedModel(FunctionModel):
    """Plans from ``plans`` (each a JSON string or a list of ``{"name", "arguments"}`` calls, one per planning step;
    ``[]`` once they run out) and answers from ``answers`` (``""`` once they run out)."""

    def __init__(self, plans: Sequence[Any] = (), answers: Sequence[str] = (), *, name: str = "scripted") -> None:
        self.plans = [p if isinstance(p, str) else json.dumps(p) for p in plans]
        self.answers = list(answers)
        super().__init__(self._reply, name=name)

    def _reply(self, messages: Sequence[Message], schema: Mapping[str, Any] | None) -> str:
        if schema is None:
            return self.answers.pop(0) if self.answers else ""
        return self.plans.pop(0) if self.plans else "[]"
