"""Schemas sent to servers: the same replies accepted, in a form llama.cpp's grammar converters take."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest

from agentslm.models.served_schema import (
    for_llama_cpp_python,
    for_server,
    llama_cpp_python_pattern,
    tuples_for_prefix_items,
    without_long_bounds,
)

ITEM_A = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"], "additionalProperties": False}
ITEM_B = {"type": "object", "properties": {"b": {"type": "string"}}, "required": ["b"], "additionalProperties": False}
UP_TO_THREE = {"type": "array", "prefixItems": [ITEM_A, ITEM_B, ITEM_B], "items": False, "maxItems": 3}


def _valid(schema: Any, value: Any) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(value)


@pytest.mark.parametrize(
    "value",
    [
        [],
        [{"a": 1}],
        [{"a": 1}, {"b": "x"}],
        [{"a": 1}, {"b": "x"}, {"b": "y"}],
        [{"a": 1}, {"b": "x"}, {"b": "y"}, {"b": "z"}],
        [{"b": "x"}],
        [{"a": 1}, {"a": 2}],
    ],
)
def test_prefix_items_become_one_tuple_per_allowed_length_and_accept_the_same_arrays(value: Any) -> None:
    rewritten = tuples_for_prefix_items(UP_TO_THREE)
    assert "prefixItems" not in rewritten
    assert [len(alt["prefixItems"]) for alt in rewritten["anyOf"]] == [0, 1, 2, 3]
    assert _valid(rewritten, value) == _valid(UP_TO_THREE, value)


def test_min_items_and_open_arrays() -> None:
    at_least_one = {**UP_TO_THREE, "minItems": 1}
    assert [len(alt["prefixItems"]) for alt in tuples_for_prefix_items(at_least_one)["anyOf"]] == [1, 2, 3]
    open_tail = {"type": "array", "prefixItems": [ITEM_A], "items": ITEM_B}
    assert tuples_for_prefix_items(open_tail) == open_tail  # more items allowed: not a bounded tuple, left as it is


def test_only_long_length_bounds_are_left_out() -> None:
    schema = {
        "type": "object",
        "properties": {"t": {"type": "string", "maxLength": 80}, "u": {"type": "string", "maxLength": 2000}},
    }
    out = without_long_bounds(schema)
    assert out["properties"]["t"]["maxLength"] == 80
    assert "maxLength" not in out["properties"]["u"]


PATTERNS = {
    r"^[^@\s]+@[^@\s]+\.[a-z]+$": ["ana@x.com", "a b@x.com", "ana@xcom", "ana@x.c0m", "@x.com"],
    r"^\d{4}-\d{2}-\d{2}$": ["2026-12-07", "2026-1-07", "20261207", "abcd-ef-gh"],
    r"^\d{2}:\d{2}$": ["18:30", "1830", "8:30"],
    r"^\$[1-3](\.[A-Za-z_][A-Za-z0-9_]{0,39}){0,3}$": ["$1", "$2.email", "$3.a.b", "$4", "1.email", "$1.", "$1.a.b.c.d"],
    r"^[^\x00]*\.ics$": ["cal.ics", "calics", "a/b.ics"],
    r"^a\/b\\c\-d$": ["a/b\\c-d", "a/bc-d"],
    r"^[\w.-]+$": ["a.b-c_d", "a b"],
}


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_patterns_are_rewritten_into_classes_that_match_the_same_strings(pattern: str) -> None:
    rewritten = llama_cpp_python_pattern(pattern)
    assert rewritten is not None
    assert "\\d" not in rewritten and "\\." not in rewritten and "\\$" not in rewritten
    for text in PATTERNS[pattern]:
        assert bool(re.search(rewritten, text)) == bool(re.search(pattern, text)), text


@pytest.mark.parametrize("pattern", [r"^https?://", r"^$|^[^@\s]+@[^@\s]+$", r"^(?:ab)+$", r"^\bword$", r"^[\S]+$", r"^a(b$"])
def test_patterns_outside_the_converters_subset_are_not_sent(pattern: str) -> None:
    assert llama_cpp_python_pattern(pattern) is None
    sent = for_llama_cpp_python({"type": "string", "pattern": pattern})
    assert sent == {"type": "string"}


def _parses_in_llama_cpp(schema: Any) -> bool:
    """Whether llama-cpp-python's converter writes a grammar for ``schema`` that llama.cpp's parser accepts."""
    llama_cpp = pytest.importorskip("llama_cpp")
    from llama_cpp import llama_grammar

    from agentslm.models import embedded_model_path

    grammar = llama_grammar.json_schema_to_gbnf(json.dumps(schema))
    llm = llama_cpp.Llama(str(embedded_model_path()), vocab_only=True, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True


def test_the_planners_schema_for_a_real_tool_set_parses_in_llama_cpp_once_rewritten() -> None:
    """The failure that stopped served models as the agent's model: the plan schema of the task benchmark's tools
    (prefixItems, references, a 2,000-character note text, email and date patterns)."""
    from agentslm.bench.task_world import World
    from agentslm.constraints.plan_schema import plan_schema

    schema = plan_schema(list(World().registry()), max_tasks=4)
    assert not _parses_in_llama_cpp(schema)
    assert _parses_in_llama_cpp(for_llama_cpp_python(schema))


def test_any_server_gets_tuples_and_bounded_lengths_with_its_patterns_kept() -> None:
    """``json_schema`` servers (llama.cpp's C++ server, vLLM, SGLang) convert patterns themselves: only the arrays and
    the long bounds change."""
    schema = {
        "type": "array",
        "prefixItems": [{"type": "string", "pattern": r"^\d+$", "maxLength": 2000}],
        "items": False,
        "maxItems": 1,
    }
    out = for_server(schema)
    assert out["anyOf"][0]["prefixItems"] == []
    assert out["anyOf"][1]["prefixItems"] == [{"type": "string", "pattern": r"^\d+$"}]
