"""Built-in demo tools and the scripted session of ``agentslm demo``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from agentslm.events import AgentEvent, CallEvent, ErrorEvent, ResultEvent
from agentslm.registry import ToolRegistry

__all__ = ["DEMO_EXPECTED", "DEMO_REQUESTS", "NOTES", "DemoExpectation", "demo_registry", "judge_demo_request"]

NOTES: list[str] = []
"""The demo's in-memory notes (what ``add_note`` writes and ``delete_all_notes`` would clear)."""

_WEATHER = {"paris": (18, "cloudy"), "london": (14, "rain"), "tokyo": (22, "sunny"), "madrid": (27, "sunny")}


class Unit(StrEnum):
    celsius = "celsius"
    fahrenheit = "fahrenheit"


def demo_registry() -> ToolRegistry:
    """A fresh registry with the demo tools (weather, temperature conversion, notes)."""
    registry = ToolRegistry()

    @registry.tool
    def get_weather(city: str, unit: Unit = Unit.celsius) -> dict[str, object]:
        """Get the current weather for a city.

        Args:
            city: City name, e.g. "Paris".
            unit: Temperature unit.
        """
        temp_c, sky = _WEATHER.get(city.strip().lower(), (20, "clear"))
        temp = temp_c if unit is Unit.celsius else round(temp_c * 9 / 5 + 32, 1)
        return {"city": city, "temperature": temp, "unit": unit.value, "sky": sky}

    @registry.tool
    def convert_temperature(value: float, to_unit: Unit) -> float:
        """Convert a temperature to celsius or fahrenheit.

        Args:
            value: The temperature to convert.
            to_unit: The unit to convert to.
        """
        return round(value * 9 / 5 + 32, 2) if to_unit is Unit.fahrenheit else round((value - 32) * 5 / 9, 2)

    @registry.tool(effects=["write"])
    def add_note(text: Annotated[str, Field(min_length=1, max_length=500)]) -> str:
        """Save a short note.

        Args:
            text: The note text.
        """
        NOTES.append(text)
        return f"saved note #{len(NOTES)}"

    @registry.tool(effects=["destructive"])
    def delete_all_notes() -> str:
        """Delete every saved note. Cannot be undone."""
        count = len(NOTES)
        NOTES.clear()
        return f"deleted {count} notes"

    return registry


DEMO_REQUESTS = (
    "What's the weather in Paris?",
    "Convert 25 degrees to fahrenheit.",
    "Save a note: buy milk and eggs",
    "Delete all my notes.",
)
"""The scripted session: a read, a computation, a write, and a destructive call (refused without approval)."""


@dataclass(frozen=True, kw_only=True)
class DemoExpectation:
    """What a correct handling of a demo request is: this call, and it ran (or was refused: destructive, no approver)."""

    tool: str
    arguments: dict[str, Any]
    outcome: Literal["ran", "refused"]


DEMO_EXPECTED: dict[str, DemoExpectation] = {
    "What's the weather in Paris?": DemoExpectation(tool="get_weather", arguments={"city": "Paris"}, outcome="ran"),
    "Convert 25 degrees to fahrenheit.": DemoExpectation(
        tool="convert_temperature", arguments={"value": 25, "to_unit": "fahrenheit"}, outcome="ran"
    ),
    "Save a note: buy milk and eggs": DemoExpectation(tool="add_note", arguments={"text": "buy milk and eggs"}, outcome="ran"),
    "Delete all my notes.": DemoExpectation(tool="delete_all_notes", arguments={}, outcome="refused"),
}


def _same(arguments: dict[str, Any], expected: dict[str, Any], schema: dict[str, Any]) -> bool:
    """Equal up to case, int/float, and arguments written out with their schema default."""

    def norm(v: Any) -> Any:
        return (
            v.strip().lower() if isinstance(v, str) else float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
        )

    props = schema.get("properties", {})
    given = {k: v for k, v in arguments.items() if k in expected or props.get(k, {}).get("default", object()) != v}
    return {k: norm(v) for k, v in given.items()} == {k: norm(v) for k, v in expected.items()}


def judge_demo_request(request: str, events: Sequence[AgentEvent]) -> str | None:
    """None when ``request`` was handled as :data:`DEMO_EXPECTED` says (strictly: the expected call and no other),
    else what went wrong."""
    want = DEMO_EXPECTED[request]
    calls = [e for e in events if isinstance(e, CallEvent)]
    ran = {e.task_id for e in events if isinstance(e, ResultEvent) and e.observation.ok}
    refused = {e.task_id for e in events if isinstance(e, ErrorEvent) and e.kind == "refused"}
    tool = demo_registry().get(want.tool)
    schema = tool.parameters if tool is not None else {}
    right = [c for c in calls if c.call.name == want.tool and _same(c.call.arguments, want.arguments, schema)]
    others = [c for c in calls if c not in right]
    if not right:
        made = ", ".join(f"{c.call.name}({c.call.arguments})" for c in calls) or "no call"
        return f"expected {want.tool}({want.arguments}), got {made}"
    if others:
        return "extra calls: " + ", ".join(f"{c.call.name}({c.call.arguments})" for c in others)
    done = ran if want.outcome == "ran" else refused
    if not any(c.task_id in done for c in right):
        return f"the call was expected to be {want.outcome}"
    return None
