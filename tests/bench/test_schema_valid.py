"""BFCL simple_python: the constrained output of the real embedded model parses and validates (60 seeded cases by
default, all 400 with ``-m slow``: about 13 minutes on 2 cores)."""

from __future__ import annotations

import random

import pytest

from agentslm.bench.bfcl_data import load_bfcl
from agentslm.bench.schema_valid import lenient_parse, run_schema_valid, summarize
from agentslm.models.llamacpp import LlamaCppModel


def test_lenient_parse() -> None:
    assert lenient_parse('sure! <tool_call>[{"name": "f", "arguments": {"a": 1}}]</tool_call>').arguments == {"a": 1}
    assert lenient_parse('{"name": "f", "arguments": "{\\"a\\": 2}"}').arguments == {"a": 2}
    assert lenient_parse("I think f(a=1)").parse_error is not None


def test_bfcl_loader() -> None:
    cases = load_bfcl("simple_python")
    assert len(cases) == 400 and cases[0].answer and cases[0].messages[-1]["role"] == "user"


def _schema_valid(model: LlamaCppModel, sample: int | None) -> None:
    cases = load_bfcl("simple_python")
    if sample is not None:
        cases = random.Random(0).sample(cases, sample)
    results = run_schema_valid(model, cases, systems=("constrained",))
    summary = summarize(results)["constrained"]
    invalid = [(r.id, r.reason, r.output[:120]) for r in results if not r.valid]
    assert summary["cases"] == len(cases) == (sample or 400)
    assert invalid == []


def test_sampled_simple_python_cases_are_schema_valid(embedded_model: LlamaCppModel) -> None:
    _schema_valid(embedded_model, 60)


@pytest.mark.slow
def test_all_simple_python_cases_are_schema_valid(embedded_model: LlamaCppModel) -> None:
    _schema_valid(embedded_model, None)
