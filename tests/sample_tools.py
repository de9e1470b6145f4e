"""Tools used by the CLI tests (`--tools tests.sample_tools:registry`)."""

from __future__ import annotations

from agentslm import ToolRegistry

registry = ToolRegistry()


@registry.tool
def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: City name, e.g. "Paris".
    """
    return f"sunny in {city}"
