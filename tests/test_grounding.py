from __future__ import annotations

from agentslm import ToolRegistry
from agentslm.grounding import grounding_report, is_grounded_number, is_grounded_string
from agentslm.step_types import ToolCall
from agentslm.verify import Verifier


def test_strings_numbers_and_exemptions() -> None:
    source = "What's the weather in New York City tomorrow? Use five days and 20% tip."
    assert is_grounded_string("new york", source) and is_grounded_string("New York, NY", source)
    assert not is_grounded_string("Sacramento", source)
    assert is_grounded_number(5, source) and is_grounded_number(0.2, source) and is_grounded_number(20, source)
    assert not is_grounded_number(7, source)
    schema = {
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "days": {"type": "integer"},
            "limit": {"type": "integer", "default": 10},
        }
    }
    assert grounding_report({"city": "New York", "unit": "f", "days": 5, "limit": 10}, schema, source) == []
    assert grounding_report({"city": "Paris", "days": 9}, schema, source) == ["city", "days"]


def test_verifier_grounding_stage_is_opt_in() -> None:
    registry = ToolRegistry()

    @registry.tool
    def get_weather(city: str) -> str:
        """Weather."""
        return city

    call = ToolCall(name="get_weather", arguments={"city": "Paris"})
    assert Verifier(registry).verify(call, source="weather in Rome").approved
    verdict = Verifier(registry, grounding=True).verify(call, source="weather in Rome")
    assert not verdict.approved and verdict.checks[-1].stage == "grounding" and "ask the user" in verdict.checks[-1].reason
    assert Verifier(registry, grounding=True).verify(call, source="weather in paris please").approved
