"""Agent.call / Agent.run: orchestration with a scripted fake model, and end to end on the embedded model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from agentslm import Agent, Generation, Model, Tool, ToolCall, ToolRegistry, UserError
from agentslm.demo import NOTES, demo_registry
from agentslm.models.base import Message


class ScriptedModel(Model):
    """Returns fixed outputs in order (for orchestration tests only)."""

    name = "scripted"

    def __init__(self, outputs: list[str]) -> None:
        self.outputs = outputs
        self.schemas: list[Mapping[str, Any] | None] = []

    def generate(
        self,
        messages: Sequence[Message],
        *,
        schema: Mapping[str, Any] | None = None,
        max_tokens: int = 512,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> Generation:
        self.schemas.append(schema)
        return Generation(text=self.outputs.pop(0))


def _tools(log: list[str]) -> ToolRegistry:
    registry = ToolRegistry()

    @registry.tool
    def lookup(key: str) -> str:
        log.append(f"lookup {key}")
        return key.upper()

    @registry.tool(effects=["destructive"])
    def erase(key: str) -> str:
        log.append(f"erase {key}")
        return "erased"

    return registry


def test_refused_calls_never_run() -> None:
    log: list[str] = []
    outputs = [
        '{"name":"erase","arguments":{"key":"a"}}',
        '{"name":"lookup","arguments":{"key":5}}',
        '{"name":"lookup"',
        '{"name":"lookup","arguments":{"key":"b"}}',
    ]
    agent = Agent(ScriptedModel(outputs), _tools(log))
    results = [agent.run(f"request {i}") for i in range(4)]
    assert [r.executed for r in results] == [False, False, False, True]
    assert [r.verdict.checks[-1].stage for r in results[:3]] == ["approval", "schema", "parse"]
    assert log == ["lookup b"]
    assert results[3].observation is not None and results[3].observation.text == "B"
    schema = agent.model.schemas[0]  # type: ignore[attr-defined]
    assert schema is not None and {b["properties"]["name"]["const"] for b in schema["anyOf"]} == {"lookup", "erase"}


def test_approval_callback_allows_destructive_call() -> None:
    log: list[str] = []

    def approve(call: ToolCall, tool: Tool) -> bool:
        return tool.name == "erase" and call.arguments == {"key": "tmp"}

    agent = Agent(ScriptedModel(['{"name":"erase","arguments":{"key":"tmp"}}']), _tools(log), approve=approve)
    assert agent.run("erase tmp").executed and log == ["erase tmp"]


def test_agent_without_tools_is_a_user_error() -> None:
    with pytest.raises(UserError, match="no tools"):
        Agent(ScriptedModel([]), []).call("hi")


def test_end_to_end_on_embedded_model(embedded_model: Model) -> None:
    NOTES.clear()
    agent = Agent(embedded_model, demo_registry())
    weather = agent.run("What's the weather in Paris?")
    assert weather.call.name == "get_weather" and weather.call.arguments["city"] == "Paris"
    assert weather.observation is not None and weather.observation.ok and '"sky": "cloudy"' in weather.observation.text
    assert weather.call.signals.name_margin is not None and 0 < weather.call.signals.name_margin <= 1

    note = agent.run("Save a note: buy milk and eggs")
    assert note.executed and NOTES and "milk" in NOTES[0].lower()

    wipe = agent.run("Delete all my notes.")
    assert wipe.call.name == "delete_all_notes" and not wipe.executed and NOTES, "refused destructive call must not run"
    NOTES.clear()
