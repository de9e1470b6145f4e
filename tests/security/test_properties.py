"""Property-based tests (hypothesis, hypothesis-jsonschema).

* Soundness of constrained decoding: for tool schemas drawn from every distinct BFCL function and from our tool
  packs, any call the real model decodes under the grammar — sampled at temperature > 0 — validates against the
  tool's JSON Schema (and the verifier's schema and type checks pass it).
* Completeness: any instance of a tool's (bounded) schema that hypothesis-jsonschema generates, written as the
  model writes JSON (UTF-8, not ``\\u`` escapes), is accepted by the grammar token by token — the grammar does not
  forbid valid calls. Known gaps: code points Unicode leaves unassigned (category Cn) are not admitted (excluded
  here), and DEL (U+007F) only as the escape ``\\u007f`` (written so here).
* The verifier never approves arguments that JSON Schema rejects (random JSON thrown at every pack tool).
* Parsing arbitrary model text never raises: it becomes a parse error.
"""

from __future__ import annotations

import json
import os
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from agentslm import ToolCall, ToolRegistry
from agentslm.constraints.call_schema import DecodeLimits, bound_schema, call_schema
from agentslm.constraints.engines import JSON_SEPARATORS
from agentslm.models.base import Generation, Model
from agentslm.registry import Tool
from agentslm.roles.caller import RESPONSE_PREFIX, Caller, parse_call, parse_calls
from agentslm.verify import Verifier

FULL = os.environ.get("AGENTSLM_SECURITY_FULL") == "1"
SLOW_SETTINGS = {"deadline": None, "derandomize": True, "suppress_health_check": list(HealthCheck)}


@cache
def pack_tools() -> tuple[Tool, ...]:
    import tempfile

    from agentslm_tools import PACKS, build_registry
    from agentslm_tools.context import PackContext

    folder = Path(tempfile.mkdtemp(prefix="agentslm-props-"))
    ctx = PackContext(data_dir=folder / "data", workspace=folder / "ws")
    return tuple(build_registry(list(PACKS), ctx))


@cache
def bfcl_tools() -> tuple[Tool, ...]:
    from agentslm.bench.retrieval import bfcl_tool_pool

    return tuple(bfcl_tool_pool())


def _decode_property(model: Model, tools: tuple[Tool, ...], examples: int, record_property: Any) -> None:
    stats = {"decodes": 0, "complete": 0, "invalid": 0}
    caller = Caller(model, max_tokens=192)
    verifier = Verifier(ToolRegistry(list(tools)))

    @settings(max_examples=examples, **SLOW_SETTINGS)  # type: ignore[arg-type]
    @given(
        tool=st.sampled_from(tools),
        seed=st.integers(0, 2**31 - 1),
        temperature=st.sampled_from([0.7, 1.0, 1.5]),
    )
    def decodes_validate(tool: Tool, seed: int, temperature: float) -> None:
        schema = call_schema([tool], caller.limits)
        messages = caller.messages(f"Call {tool.name} with example values.", [tool])
        gen = model.generate(  # type: ignore[call-arg]
            messages,
            schema=schema,
            max_tokens=caller.max_tokens,
            temperature=temperature,
            seed=seed,
            response_prefix=RESPONSE_PREFIX,
        )
        stats["decodes"] += 1
        if gen.finish_reason != "stop":  # cut at the token budget: the caller reports it as a parse error
            return
        stats["complete"] += 1
        call = json.loads(gen.text)
        try:
            jsonschema.validate(call["arguments"], tool.parameters)
        except jsonschema.ValidationError:
            stats["invalid"] += 1
            raise
        verdict = verifier.verify(ToolCall(name=call["name"], arguments=call["arguments"]))
        failed = [c.stage for c in verdict.checks if not c.ok]
        assert not set(failed) & {"parse", "tool", "schema", "types"}, (tool.name, call, verdict.reasons)

    decodes_validate()
    record_property("decodes", stats["decodes"])
    record_property("complete_decodes", stats["complete"])
    record_property("schema_violations", stats["invalid"])
    assert stats["invalid"] == 0 and stats["complete"] >= stats["decodes"] * 0.8


def test_sampled_decodes_validate_pack_tools(embedded_model: Model, record_property: Any) -> None:
    """Decodes of the real model at temperature 0.7-1.5 for the 25 tool-pack tools validate against their schemas."""
    _decode_property(embedded_model, pack_tools(), 60 if FULL else 6, record_property)


def test_sampled_decodes_validate_bfcl_tools(embedded_model: Model, record_property: Any) -> None:
    """Decodes of the real model at temperature 0.7-1.5 for tools drawn from all 1,499 distinct BFCL functions
    validate against their schemas (6 in the default run; 200 with AGENTSLM_SECURITY_FULL=1)."""
    _decode_property(embedded_model, bfcl_tools(), 200 if FULL else 6, record_property)


def _accepts(model: Model, schema: dict[str, Any], text: str) -> bool:
    matcher = model.engine().compile(schema).matcher()  # type: ignore[attr-defined]
    for token in model.text_tokens(text):  # type: ignore[attr-defined]
        if not matcher.consume(token):
            return False
    return bool(matcher.is_finished())


def _ordered(value: Any, schema: dict[str, Any]) -> Any:
    """``value`` with object keys in the schema's property order (the grammar's order)."""
    if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
        props = schema["properties"]
        keys = [k for k in props if k in value] + [k for k in value if k not in props]
        return {k: _ordered(value[k], props.get(k, {})) for k in keys}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_ordered(v, schema["items"]) for v in value]
    return value


@pytest.mark.parametrize("pool", ["packs", "bfcl"])
def test_every_valid_instance_is_accepted_by_the_grammar(pool: str, embedded_model: Model, record_property: Any) -> None:
    """Instances hypothesis-jsonschema draws from a tool's bounded schema, written as a call, are accepted by the
    compiled grammar token by token (no valid call is unreachable). Default: all 25 pack tools and every 25th BFCL
    function, 5 instances each; full: every 3rd BFCL function (500), 10 each."""
    limits = DecodeLimits()
    tools = [t for t in (pack_tools() if pool == "packs" else bfcl_tools()[:: 3 if FULL else 25]) if "$defs" not in t.parameters]
    checked = {"instances": 0, "tools": 0}
    skipped: list[str] = []

    def property_for(tool: Tool) -> Any:
        bounded = bound_schema(tool.parameters, limits)
        schema = call_schema([tool], limits)

        @settings(max_examples=10 if FULL else 5, **SLOW_SETTINGS)  # type: ignore[arg-type]
        @given(arguments=from_schema(bounded))
        def accepted(arguments: Any) -> None:
            call = {"name": tool.name, "arguments": _ordered(arguments, bounded)}
            # the grammar admits DEL (U+007F) only escaped, as \u007f — a documented representation gap
            text = json.dumps(call, ensure_ascii=False, separators=JSON_SEPARATORS).replace("\x7f", "\\u007f")
            # known, documented gap: the grammar does not admit unassigned code points (category Cn)
            assume(not any(unicodedata.category(ch) == "Cn" for ch in text))
            checked["instances"] += 1
            assert _accepts(embedded_model, schema, text), text

        return accepted

    for tool in tools:
        try:
            property_for(tool)()
        except Exception as exc:  # hypothesis-jsonschema cannot draw from some schemas (e.g. unsupported patterns)
            if type(exc).__name__ in ("Unsatisfiable", "FailedHealthCheck") or "hypothesis_jsonschema" in repr(type(exc)):
                skipped.append(f"{tool.name}: {type(exc).__name__}")
                continue
            raise
        checked["tools"] += 1
    record_property("tools", checked["tools"])
    record_property("not_drawable", len(skipped))
    record_property("instances", checked["instances"])
    assert checked["tools"] >= len(tools) * 0.8


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def test_the_verifier_never_approves_what_json_schema_rejects(record_property: Any) -> None:
    """Random JSON objects as arguments of every pack tool: whenever the verifier approves, JSON Schema validates."""
    tools = [t for t in pack_tools() if not t.requires_approval]
    verifier = Verifier(ToolRegistry(list(tools)))
    seen = {"approved": 0, "refused": 0}

    @settings(max_examples=600 if FULL else 150, **SLOW_SETTINGS)  # type: ignore[arg-type]
    @given(tool=st.sampled_from(tools), arguments=st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=4))
    def agrees(tool: Tool, arguments: dict[str, Any]) -> None:
        for candidate in (arguments, {**arguments, **{k: v for k, v in list(arguments.items())[:0]}}):
            verdict = verifier.verify(ToolCall(name=tool.name, arguments=candidate))
            if verdict.approved:
                seen["approved"] += 1
                jsonschema.validate(candidate, tool.parameters)
            else:
                seen["refused"] += 1

    agrees()

    @settings(max_examples=300 if FULL else 60, **SLOW_SETTINGS)  # type: ignore[arg-type]
    @given(data=st.data())
    def valid_ones_pass(data: st.DataObject) -> None:
        tool = data.draw(st.sampled_from([t for t in tools if "$defs" not in t.parameters]))
        arguments = data.draw(from_schema(tool.parameters))
        verdict = verifier.verify(ToolCall(name=tool.name, arguments=arguments))
        if verdict.approved:
            seen["approved"] += 1
        else:
            seen["refused"] += 1
            assert not {c.stage for c in verdict.checks if not c.ok} & {"schema"}, (tool.name, arguments, verdict.reasons)

    valid_ones_pass()
    record_property("approved", seen["approved"])
    record_property("refused", seen["refused"])
    assert seen["approved"] > 0 and seen["refused"] > 0


def test_parsing_any_model_text_never_raises(record_property: Any) -> None:
    """Arbitrary text as a model's output (garbage, truncated JSON, wrong shapes) becomes a parse error, never an
    exception."""
    count = {"n": 0}
    shapes = st.one_of(
        st.text(max_size=200),
        JSON_VALUES.map(json.dumps),
        st.builds(lambda s, n: s[:n], JSON_VALUES.map(json.dumps), st.integers(0, 50)),
    )

    @settings(max_examples=800 if FULL else 300, **SLOW_SETTINGS)  # type: ignore[arg-type]
    @given(text=shapes)
    def never_raises(text: str) -> None:
        count["n"] += 1
        gen = Generation(text=text)
        parse_call(gen)
        parse_calls(gen)

    never_raises()
    record_property("texts", count["n"])
