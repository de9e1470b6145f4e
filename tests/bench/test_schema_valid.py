"""Every BFCL simple_python case: the constrained output of the real embedded model parses and validates."""

from __future__ import annotations

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


def test_all_simple_python_cases_are_schema_valid(embedded_model: LlamaCppModel) -> None:
    cases = load_bfcl("simple_python")
    results = run_schema_valid(embedded_model, cases, systems=("constrained",))
    summary = summarize(results)["constrained"]
    invalid = [(r.id, r.reason, r.output[:120]) for r in results if not r.valid]
    assert summary["cases"] == 400
    assert invalid == []
