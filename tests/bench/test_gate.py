from __future__ import annotations

from agentslm.bench.bfcl_data import load_bfcl
from agentslm.bench.gate import regate, sweep
from agentslm.bench.systems import Gate
from agentslm.step_types import CallList, ToolCall


def test_gate_closes_the_list_at_the_first_unsure_call_and_merges_duplicates() -> None:
    a, b = ToolCall(name="a", arguments={"x": 1}), ToolCall(name="b")
    listed = CallList(calls=[a, a, b], open_probabilities=[0.9, 0.95, 0.6])
    assert [c.name for c in listed.gated().calls] == ["a", "b"]
    assert [c.name for c in listed.gated(dedupe=False).calls] == ["a", "a", "b"]
    assert [c.name for c in listed.gated(min_more=0.7).calls] == ["a"]
    gated = listed.gated(min_first=0.95)
    assert gated.calls == [] and gated.abstained


def test_regate_rescores_recorded_outputs() -> None:
    case = load_bfcl("simple_python", limit=1)[0]
    ((name, args),) = case.answer[0].items()
    right = {"name": name, "arguments": {k: v[0] for k, v in args.items() if v[0] != ""}}
    record = {
        "system": "agentslm",
        "category": "simple_python",
        "id": case.id,
        "calls": [right, right],
        "raw": "",
        "extra": {"ungated": [right, {"name": name, "arguments": {}}], "open_probabilities": [0.8, 0.6]},
    }
    cases = {("simple_python", case.id): case}
    assert regate([record], cases, Gate()) == [False]  # two different calls: wrong count
    assert regate([record], cases, Gate(min_more=0.7)) == [True]
    assert regate([record], cases, Gate(min_first=0.9)) == [False]
    rows = sweep([record], cases, firsts=(0.0, 0.9), mores=(0.0, 0.7))
    assert rows[0]["mean"] == 1.0 and rows[0]["min_more"] == 0.7
