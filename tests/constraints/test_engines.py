"""Grammar compilation on the real embedded model's tokenizer: strictness, caching, validity."""

from __future__ import annotations

import json

import jsonschema
import pytest

from agentslm import SchemaCompileError
from agentslm.models.llamacpp import LlamaCppModel

SIMPLE = {
    "type": "object",
    "properties": {"n": {"type": "integer", "minimum": 3, "maximum": 7}},
    "required": ["n"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("engine", ["llguidance", "outlines"])
def test_engines_compile_cache_and_decode_valid_json(embedded_model: LlamaCppModel, engine: str) -> None:
    eng = embedded_model.engine(engine)
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 20}, "unit": {"enum": ["c", "f"]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    }
    before = eng.compile_count
    first = eng.compile(schema)
    assert eng.compile(json.loads(json.dumps(schema))) is first  # cached by canonical JSON
    assert eng.compile_count == before + 1
    gen = embedded_model.generate(
        [{"role": "user", "content": "Weather in Rome in celsius as JSON."}], schema=schema, engine=engine, max_tokens=64
    )
    assert gen.finish_reason == "stop"
    jsonschema.validate(json.loads(gen.text), schema)


@pytest.mark.parametrize(
    ("schema", "match"),
    [
        ({"type": "object", "properties": {"x": {"$ref": "https://example.com/s.json"}}}, "non-local \\$ref"),
        ({"type": "object", "properties": {"x": {"$ref": "#/$defs/Missing"}}}, "points nowhere"),
        ({"type": "object", "properties": {"x": {"type": "string", "not": {"const": "a"}}}}, "llguidance"),
        ({"type": "object", "properties": {"x": {"type": "array", "uniqueItems": True}}}, "Unimplemented keys"),
        ({"if": {"type": "string"}, "then": {"maxLength": 3}}, "Unimplemented keys"),
    ],
)
def test_unsupported_schemas_fail_loudly(embedded_model: LlamaCppModel, schema: dict, match: str) -> None:
    with pytest.raises(SchemaCompileError, match=match) as info:
        embedded_model.engine("llguidance").compile(schema)
    assert "Hint" in str(info.value)


def test_outlines_engine_refuses_what_it_would_ignore(embedded_model: LlamaCppModel) -> None:
    with pytest.raises(SchemaCompileError, match="cannot enforce keyword 'minimum'"):
        embedded_model.engine("outlines").compile(SIMPLE)


def test_llguidance_enforces_numeric_bounds(embedded_model: LlamaCppModel) -> None:
    for seed in range(3):
        gen = embedded_model.generate(
            [{"role": "user", "content": "Pick a number."}], schema=SIMPLE, temperature=1.5, seed=seed, max_tokens=32
        )
        assert 3 <= json.loads(gen.text)["n"] <= 7
