from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

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


def _first_case_and_its_answer() -> tuple[Any, dict[str, Any]]:
    """BFCL simple_python's first case and a call its checker accepts."""
    case = load_bfcl("simple_python", limit=1)[0]
    ((name, args),) = case.answer[0].items()
    return case, {"name": name, "arguments": {k: v[0] for k, v in args.items() if v[0] != ""}}


def _record(case: Any, calls: list[dict[str, Any]], ungated: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "system": "agentslm",
        "category": "simple_python",
        "id": case.id,
        "calls": calls,
        "raw": "",
        "extra": {"ungated": ungated, **extra},
    }


def test_regate_rescores_recorded_outputs() -> None:
    case, right = _first_case_and_its_answer()
    name = right["name"]
    record = _record(case, [right, right], [right, {"name": name, "arguments": {}}], open_probabilities=[0.8, 0.6])
    cases = {("simple_python", case.id): case}
    assert regate([record], cases, Gate()) == [False]  # two different calls: wrong count
    assert regate([record], cases, Gate(min_more=0.7)) == [True]
    assert regate([record], cases, Gate(min_first=0.9)) == [False]
    rows = sweep([record], cases, firsts=(0.0, 0.9), mores=(0.0, 0.7))
    assert rows[0]["mean"] == 1.0 and rows[0]["min_more"] == 0.7


def test_the_chosen_gate_becomes_a_policy_file_the_planner_and_the_cli_read(tmp_path: Path) -> None:
    """``bench gate --write-policy``: the best gate of the grid (each grounding scope tried) within the floors, written
    as planner policy fields that ``PlannerPolicy.from_file`` and ``--planner-policy @FILE`` read."""
    from agentslm.bench.gate import choose_policy, policy_fields
    from agentslm.cli.common import _policy_overrides
    from agentslm.errors import UserError
    from agentslm.roles.planner import PlannerPolicy

    rows = [
        {"min_first": 0.0, "min_more": 0.0, "grounding": True, "grounding_scope": "any", "mean": 0.61, "irrelevance": 0.6},
        {"min_first": 0.0, "min_more": 0.0, "grounding": True, "grounding_scope": "every", "mean": 0.55, "irrelevance": 0.85},
    ]
    assert choose_policy(rows)["grounding_scope"] == "any"
    assert choose_policy(rows, {"irrelevance": 0.8})["grounding_scope"] == "every"
    assert choose_policy(rows, {"irrelevance": 0.9}) is None
    with pytest.raises(UserError, match="No results for simple"):
        choose_policy(rows, {"simple": 0.5})
    file = tmp_path / "policy.json"
    file.write_text(json.dumps({"policy": policy_fields(rows[1]), "model": "m"}))
    policy = PlannerPolicy.from_file(file)
    assert (policy.grounding, policy.grounding_scope, policy.min_more) == (True, "every", 0.0)
    assert _policy_overrides([f"@{file}", "grounding_scope=any"]) == {**policy_fields(rows[1]), "grounding_scope": "any"}
    (tmp_path / "bad.json").write_text('{"policy": {"grounding_scop": "any"}}')
    with pytest.raises(UserError, match="unknown policy field"):
        PlannerPolicy.from_file(tmp_path / "bad.json")
    with pytest.raises(UserError, match="No policy file"):
        _policy_overrides([f"@{tmp_path / 'missing.json'}"])


def test_the_sweep_tries_each_grounding_scope() -> None:
    case, right = _first_case_and_its_answer()
    record = _record(case, [right], [right])
    rows = sweep([record], {("simple_python", case.id): case}, firsts=(0.0,), mores=(0.0,))
    assert sorted((r["grounding"], r["grounding_scope"]) for r in rows) == [(False, "every"), (True, "any"), (True, "every")]
