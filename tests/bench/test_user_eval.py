from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest

from agentslm.bench.bfcl_checker import check_case
from agentslm.bench.user_eval import bfcl_function, case_category, load_user_cases
from agentslm.errors import UserError
from agentslm.registry import ToolRegistry
from agentslm.step_types import ToolCall

registry = ToolRegistry()


@registry.tool
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius", days: int | None = None) -> str:
    """Weather for a city.

    Args:
        city: City name.
        unit: Temperature unit.
        days: Days of forecast.
    """
    return city


@registry.tool
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_registry_tools_become_bfcl_functions() -> None:
    doc = bfcl_function(registry.get("get_weather"))
    props = doc["parameters"]["properties"]
    assert doc["parameters"]["required"] == ["city"] and props["city"]["type"] == "string"
    assert props["unit"]["enum"] == ["celsius", "fahrenheit"] and props["days"]["type"] == "integer"
    assert bfcl_function(registry.get("add"))["parameters"]["properties"]["a"]["type"] == "float"


def test_cases_are_grouped_by_shape_and_scored_by_the_checker(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "cases.jsonl",
        [
            {
                "id": "w",
                "request": "Weather in Paris?",
                "expected": [{"name": "get_weather", "arguments": {"city": ["Paris", "paris"]}}],
            },
            {
                "id": "w1",
                "request": "Weather in Oslo?",
                "tools": ["get_weather"],
                "expected": [{"name": "get_weather", "arguments": {"city": "Oslo"}}],
            },
            {
                "id": "two",
                "request": "2+3 and 4+5",
                "expected": [{"name": "add", "arguments": {"a": 2, "b": 3}}, {"name": "add", "arguments": {"a": 4, "b": 5}}],
            },
            {"id": "none", "request": "Tell me a joke", "expected": []},
        ],
    )
    groups = load_user_cases(path, registry)
    assert {k: [c.id for c in v] for k, v in groups.items()} == {
        "multiple": ["w"],
        "simple": ["w1"],
        "parallel_multiple": ["two"],
        "irrelevance": ["none"],
    }
    w = groups["multiple"][0]
    assert [t.name for t in w.registry] == ["get_weather", "add"]
    ok = [ToolCall(name="get_weather", arguments={"city": "paris", "unit": "celsius"})]
    assert check_case("multiple", w.functions, ok, w.answer).valid
    assert not check_case("multiple", w.functions, [ToolCall(name="get_weather", arguments={"city": "Rome"})], w.answer).valid
    two = groups["parallel_multiple"][0]
    calls = [ToolCall(name="add", arguments={"a": 4.0, "b": 5.0}), ToolCall(name="add", arguments={"a": 2.0, "b": 3.0})]
    assert check_case("parallel_multiple", two.functions, calls, two.answer).valid
    assert case_category([], 3) == "irrelevance"


def test_bad_cases_name_the_line(tmp_path: Path) -> None:
    good = {"request": "x", "expected": []}
    for bad, message in [
        ({"expected": []}, "needs 'request'"),
        ({"request": "x"}, "'expected' must be a list"),
        ({"request": "x", "expected": [{"name": "nope", "arguments": {}}]}, "unknown tools"),
        ({"request": "x", "expected": [{"name": "add", "arguments": {"c": 1}}]}, "no parameters"),
    ]:
        path = _write(tmp_path / "c.jsonl", [good, bad])
        with pytest.raises(UserError, match=rf"c.jsonl:2: .*{message}"):
            load_user_cases(path, registry)
    (tmp_path / "c.jsonl").write_text("{oops\n")
    with pytest.raises(UserError, match=r"c\.jsonl:1: invalid JSON"):
        load_user_cases(tmp_path / "c.jsonl", registry)
