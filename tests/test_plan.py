from __future__ import annotations

import jsonschema
import pytest
from pydantic import BaseModel

from agentslm import ToolRegistry
from agentslm.constraints.plan_schema import plan_item_schema, plan_schema, reference_pattern
from agentslm.plan import Plan, Task, check_plan, levels, references, substitute


class Place(BaseModel):
    city: str
    population: int


def registry() -> ToolRegistry:
    r = ToolRegistry()

    @r.tool
    def locate(name: str) -> Place:
        """Find a place."""
        return Place(city=name, population=1)

    @r.tool
    def weather(city: str) -> str:
        """Weather."""
        return city

    @r.tool
    def census(count: int) -> str:
        """Census."""
        return str(count)

    return r


def plan(*tasks: tuple[str, dict]) -> Plan:
    return Plan.from_calls([{"name": n, "arguments": a} for n, a in tasks])


def test_references_and_substitution() -> None:
    assert references({"a": "$1", "b": ["$2.city", "x"], "c": {"d": "$3.a.b"}, "e": "$x"}) == [
        (1, []),
        (2, ["city"]),
        (3, ["a", "b"]),
    ]
    results = {1: Place(city="Oslo", population=7), 2: {"k": [1]}}
    assert substitute({"c": "$1.city", "n": "$1.population", "k": "$2.k", "t": "text $1"}, results) == {
        "c": "Oslo",
        "n": 7,
        "k": [1],
        "t": "text $1",
    }
    with pytest.raises(KeyError, match="no field 'zip'"):
        substitute("$1.zip", results)
    with pytest.raises(KeyError, match=r"\$3 has no result"):
        substitute("$3", results)


def test_check_plan_accepts_a_typed_dag_and_groups_waves() -> None:
    r = registry()
    p = plan(
        ("locate", {"name": "Oslo"}),
        ("weather", {"city": "$1.city"}),
        ("census", {"count": "$1.population"}),
        ("weather", {"city": "Rome"}),
    )
    assert check_plan(p, r) == []
    assert [[t.id for t in wave] for wave in levels(p)] == [[1, 4], [2, 3]]
    assert p.tasks[1].depends_on == [1]


def test_check_plan_problems() -> None:
    r = registry()

    def kinds(p: Plan, **kw: int) -> list[str]:
        return [x.kind for x in check_plan(p, r, **kw)]

    assert kinds(plan(("weather", {"city": "$2"}))) == ["missing_task"]
    assert kinds(plan(("weather", {"city": "$2"}), ("weather", {"city": "x"}))) == ["forward_reference"]
    cycle = Plan(
        tasks=[Task(id=1, tool="weather", arguments={"city": "$2"}), Task(id=2, tool="weather", arguments={"city": "$1"})]
    )
    assert "cycle" in kinds(cycle)
    assert kinds(plan(("locate", {"name": "a"}), ("census", {"count": "$1.city"}))) == ["type"]
    assert kinds(plan(("locate", {"name": "a"}), ("weather", {"city": "$1"}))) == ["type"]  # an object is not a string
    assert kinds(plan(("locate", {"name": "a"}), ("weather", {"city": "$1.zip"}))) == ["type"]
    assert kinds(plan(("nope", {}))) == ["unknown_tool"]
    assert kinds(plan(*[("weather", {"city": "x"})] * 3), max_tasks=2) == ["too_many_tasks"]
    dup = Plan(tasks=[Task(id=1, tool="weather", arguments={"city": "a"}), Task(id=1, tool="weather", arguments={"city": "b"})])
    assert "duplicate_id" in kinds(dup)
    with pytest.raises(ValueError, match="cycle"):
        levels(cycle)


def test_plan_grammar_admits_only_references_to_earlier_tasks() -> None:
    r = registry()
    schema = plan_schema(list(r), max_tasks=3)
    v = jsonschema.Draft202012Validator(schema)
    ok = [{"name": "locate", "arguments": {"name": "Oslo"}}, {"name": "weather", "arguments": {"city": "$1.city"}}]
    assert v.is_valid(ok)
    assert not v.is_valid([{"name": "census", "arguments": {"count": "$1"}}])  # task 1 cannot reference
    assert not v.is_valid([*ok, {"name": "census", "arguments": {"count": "$3"}}])  # self/forward
    # a string parameter can hold "$N" text; such a reference to a missing/later task is caught by check_plan
    assert check_plan(Plan.from_calls([{"name": "weather", "arguments": {"city": "$1"}}]), r)[0].kind == "cycle"
    assert not v.is_valid([ok[0]] * 4)  # bounded
    assert v.is_valid([])  # the empty plan: no tool fits
    assert reference_pattern(3) == r"^\$[1-2](\.[A-Za-z_][A-Za-z0-9_]{0,39}){0,3}$"
    item = plan_item_schema(list(r), position=2)
    assert jsonschema.Draft202012Validator(item).is_valid({"name": "census", "arguments": {"count": "$1.population"}})


def test_plan_grammar_compiles_on_the_embedded_model(embedded_model) -> None:  # type: ignore[no-untyped-def]
    r = registry()
    compiled = embedded_model.engine().compile(plan_schema(list(r), max_tasks=4))
    assert compiled.matcher() is not None
