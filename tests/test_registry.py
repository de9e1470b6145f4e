from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from agentslm import Effect, Tool, ToolRegistrationError, ToolRegistry, UserError, tool


class Color(StrEnum):
    red = "red"
    blue = "blue"


class Opaque:
    """Not JSON-serialisable: no schema."""


class Address(BaseModel):
    street: str
    zip_code: Annotated[str, Field(pattern=r"^\d{5}$")]


def test_schema_from_type_hints_and_docstring() -> None:
    @tool
    def paint(
        color: Color,
        mode: Literal["fast", "slow"],
        count: Annotated[int, Field(ge=1, le=10, description="How many coats.")] = 1,
        note: str | None = None,
        tags: list[str] | None = None,
        address: Address | None = None,
    ) -> dict[str, int]:
        """Paint the house.

        Args:
            color: The paint color.
            mode: Painting speed.
            count: Ignored, the Field description wins.
        """
        return {"coats": count}

    built = ToolRegistry([paint])["paint"]
    p = built.parameters
    assert built.description == "Paint the house."
    assert p["type"] == "object" and p["required"] == ["color", "mode"]
    assert p["additionalProperties"] is False
    assert p["properties"]["mode"] == {"enum": ["fast", "slow"], "type": "string", "description": "Painting speed."}
    assert p["properties"]["count"]["minimum"] == 1 and p["properties"]["count"]["maximum"] == 10
    assert p["properties"]["count"]["description"] == "How many coats."
    assert p["properties"]["color"]["description"] == "The paint color."
    assert p["$defs"]["Color"]["enum"] == ["red", "blue"]
    assert p["$defs"]["Address"]["properties"]["zip_code"]["pattern"] == r"^\d{5}$"
    assert p["properties"]["tags"]["anyOf"][0] == {"items": {"type": "string"}, "type": "array"}
    assert "title" not in p and "title" not in p["properties"]["count"]
    assert built.returns == {"additionalProperties": {"type": "integer"}, "type": "object"}
    # the decorator returns the function unchanged
    assert paint(Color.red, "fast") == {"coats": 1}
    # the same pydantic model validates and coerces
    typed = built.parse_arguments({"color": "red", "mode": "fast", "address": {"street": "Main", "zip_code": "12345"}})
    assert typed["color"] is Color.red and isinstance(typed["address"], Address) and typed["count"] == 1


def test_bare_and_called_decorator_and_effects() -> None:
    registry = ToolRegistry()

    @registry.tool
    def read_it(x: int) -> int:
        return x

    @registry.tool(name="wipe", effects=["destructive"], timeout=5)
    def delete_everything() -> None:
        """Delete all."""

    @registry.tool(effects=[Effect.EXTERNAL], requires_approval=False)
    async def ping(host: str) -> str:
        return host

    assert registry.names == ["read_it", "wipe", "ping"]
    assert registry["read_it"].effects == {Effect.READ} and not registry["read_it"].requires_approval
    assert registry["wipe"].requires_approval and registry["wipe"].timeout == 5
    assert registry["ping"].is_async and not registry["ping"].requires_approval
    assert asyncio.run(ping("a")) == "a"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: tool(name="f")(lambda x: x), "no type hint"),
        (lambda: tool(lambda: 1), "explicit name"),
        (lambda: tool("get_weather"), "@tool(name='get_weather')"),
        (lambda: tool(42), "Did you forget to call it?"),
    ],
)
def test_registration_errors_name_the_fix(make, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ToolRegistrationError, match=r"Hint|hint") as info:
        make()
    assert message in str(info.value)


def test_missing_hint_unsupported_annotation_varargs_duplicate() -> None:
    def no_hint(city) -> str:  # type: ignore[no-untyped-def]
        return city

    with pytest.raises(ToolRegistrationError, match="Parameter 'city' of tool 'no_hint' has no type hint") as info:
        tool(no_hint)
    assert "annotate it" in str(info.value)

    class Local:
        pass

    def takes_local(x: Local) -> None:
        pass

    with pytest.raises(ToolRegistrationError, match="Cannot resolve the type hints"):
        tool(takes_local)

    def takes_opaque(x: Opaque) -> None:
        pass

    with pytest.raises(ToolRegistrationError, match="no JSON Schema"):
        tool(takes_opaque)

    def star(*args: int) -> None:
        pass

    with pytest.raises(ToolRegistrationError, match="named parameters"):
        tool(star)

    registry = ToolRegistry()

    @registry.tool
    def same(x: int) -> int:
        return x

    with pytest.raises(ToolRegistrationError, match="already registered") as info:
        registry.add(same)
    assert "another name" in str(info.value)

    with pytest.raises(ToolRegistrationError, match="Invalid tool name"):
        tool(name="has space")(same)

    with pytest.raises(ToolRegistrationError, match="Unknown effect"):
        tool(effects=["explode"])(same)


def test_openai_round_trip_and_handlers() -> None:
    specs = [
        {
            "type": "function",
            "function": {
                "name": "add",
                "description": "Add.",
                "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            },
        },
        {"name": "noop", "description": "Nothing."},
    ]
    registry = ToolRegistry.from_openai(specs, handlers={"add": lambda a: a + 1})
    assert registry.names == ["add", "noop"]
    exported = registry.to_openai()
    assert exported[0] == specs[0]
    assert exported[1]["function"]["parameters"] == {"type": "object", "properties": {}}
    assert registry["add"].invoke({"a": 1}) == 2
    with pytest.raises(UserError, match="no handler"):
        registry["noop"].invoke({})
    with pytest.raises(UserError, match="unknown tools"):
        ToolRegistry.from_openai(specs, handlers={"missing": print})
    with pytest.raises(ToolRegistrationError, match="not a function tool"):
        ToolRegistry.from_openai([{"type": "retrieval"}])


def test_bfcl_import_normalises_types() -> None:
    fn = {
        "name": "math.stats",
        "description": "Stats.",
        "parameters": {
            "type": "dict",
            "properties": {
                "data": {"type": "array", "items": {"type": "float"}},
                "point": {"type": "tuple", "items": {"type": "integer"}},
                "opts": {"type": "dict", "properties": {"x": {"type": "any"}}, "required": ["x", "ghost"]},
                "flag": {"type": "boolean", "optional": True, "default": False},
            },
            "required": ["data"],
        },
    }
    registry = ToolRegistry.from_bfcl([fn])
    t = registry["math.stats"]
    assert isinstance(t, Tool) and t.fn is None
    p = t.parameters
    assert p["type"] == "object"
    assert p["properties"]["data"] == {"type": "array", "items": {"type": "number"}}
    assert p["properties"]["point"]["type"] == "array"
    assert p["properties"]["opts"] == {"type": "object", "properties": {"x": {}}, "required": ["x"]}
    assert "optional" not in p["properties"]["flag"]
    # the input was not mutated
    assert fn["parameters"]["type"] == "dict"
