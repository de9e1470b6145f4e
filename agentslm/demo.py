"""Built-in demo tools and the scripted session of ``agentslm demo``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from agentslm.registry import ToolRegistry

__all__ = ["demo_registry", "DEMO_REQUESTS", "NOTES"]

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
