from __future__ import annotations

from agentslm.constraints import bound_schema, call_schema, hoist_defs, strip_titles
from agentslm.constraints.call_schema import DecodeLimits
from agentslm.registry import ToolRegistry


def test_strip_titles_keeps_property_named_title() -> None:
    schema = {"title": "Args", "type": "object", "properties": {"title": {"title": "Title", "type": "string"}}}
    assert strip_titles(schema) == {"type": "object", "properties": {"title": {"type": "string"}}}


def test_hoist_defs_renames_refs() -> None:
    body, defs = hoist_defs(
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}, "$defs": {"A": {"type": "integer"}}}, "t0_"
    )
    assert body == {"type": "object", "properties": {"a": {"$ref": "#/$defs/t0_A"}}}
    assert defs == {"t0_A": {"type": "integer"}}


def test_bound_schema_only_tightens() -> None:
    limits = DecodeLimits(max_string_length=50, max_array_items=4)
    out = bound_schema(
        {
            "type": "object",
            "properties": {
                "s": {"type": "string"},
                "e": {"type": "string", "enum": ["a"]},
                "l": {"type": "array", "items": {"type": "string", "maxLength": 9}},
                "m": {"type": "string", "minLength": 80},
            },
        },
        limits,
    )
    assert out["additionalProperties"] is False
    assert out["properties"]["s"]["maxLength"] == 50
    assert "maxLength" not in out["properties"]["e"]
    assert out["properties"]["l"]["maxItems"] == 4 and out["properties"]["l"]["items"]["maxLength"] == 9
    assert out["properties"]["m"]["maxLength"] == 80  # never below minLength


def test_call_schema_is_a_union_with_hoisted_defs() -> None:
    registry = ToolRegistry()

    @registry.tool
    def a(x: int) -> int:
        return x

    @registry.tool
    def b(y: str) -> str:
        return y

    schema = call_schema(list(registry))
    assert [br["properties"]["name"] for br in schema["anyOf"]] == [{"const": "a"}, {"const": "b"}]
    assert list(schema["anyOf"][0]["properties"]) == ["name", "arguments"]
    single = call_schema([registry["a"]])
    assert "anyOf" not in single and single["properties"]["name"] == {"const": "a"}


def test_required_strings_must_not_be_empty_under_decoding() -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "note": {"type": "string"}, "code": {"type": "string", "pattern": "^[A-Z]*$"}},
        "required": ["city", "code"],
    }
    out = bound_schema(schema, DecodeLimits())
    assert out["properties"]["city"]["minLength"] == 1
    assert "minLength" not in out["properties"]["note"] and "minLength" not in out["properties"]["code"]
    assert "minLength" not in bound_schema(schema, DecodeLimits(nonempty_required_strings=False))["properties"]["city"]
