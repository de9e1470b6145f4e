from __future__ import annotations

import pytest

from agentslm.bench.bfcl_checker import check_case
from agentslm.bench.bfcl_data import load_bfcl
from agentslm.bench.systems import SYSTEMS, Gate, lenient_calls, make_system
from agentslm.errors import UserError
from agentslm.models.llamacpp import LlamaCppModel
from agentslm.registry import ToolRegistry


def test_lenient_parse_finds_calls_anywhere() -> None:
    text = 'Sure!\n[{"name": "a", "arguments": {"x": 1}},\n{"name": "b", "parameters": "{\\"y\\": 2}"}] and {"name": "c", "arguments": {}}'
    calls = lenient_calls(text)
    assert calls is not None and [(c.name, c.arguments) for c in calls] == [("a", {"x": 1}), ("b", {"y": 2}), ("c", {})]
    assert lenient_calls("[]</tool_call>") == []
    assert lenient_calls('I would call "func" with {"x": 1}') is None
    assert lenient_calls("") is None


def test_unknown_system_is_refused(embedded_model: LlamaCppModel) -> None:
    with pytest.raises(UserError, match="Unknown system"):
        make_system("gpt", embedded_model)


def test_every_system_answers_real_cases_on_the_embedded_model(embedded_model: LlamaCppModel) -> None:
    """Three systems, same model, same cases: each returns a scored output with timing and token counts."""
    cases = load_bfcl("simple_python", limit=2)
    for name in SYSTEMS:
        system = make_system(name, embedded_model, max_tokens=96)
        for case in cases:
            tools = list(ToolRegistry.from_bfcl(case.functions))
            out = system.run(case.messages, tools)  # type: ignore[arg-type]
            assert out.seconds > 0 and out.completion_tokens > 0, (name, out)
            check_case("simple_python", case.functions, out.calls, case.answer)
            if name == "agentslm":
                assert out.calls is not None and len(out.extra["open_probabilities"]) == len(out.extra["ungated"])
                assert all(c.name == tools[0].name for c in out.calls)


def test_agentslm_gate_can_abstain(embedded_model: LlamaCppModel) -> None:
    case = load_bfcl("simple_python", limit=1)[0]
    tools = list(ToolRegistry.from_bfcl(case.functions))
    out = make_system("agentslm", embedded_model, gate=Gate(min_first=1.01)).run(case.messages, tools)  # type: ignore[arg-type]
    assert out.calls == [] and out.extra["ungated"]


def test_the_gate_grounds_values_under_the_models_policy(embedded_model: LlamaCppModel) -> None:
    """The caller's gate and the agent's planner share one grounding rule: ``every`` value stated (the embedded model's
    calibration) or, under ``grounding_scope=any`` (a profile's or ``--planner-policy``), one stated value ties the
    call and an optional value may be the model's own ("units": "cm" for "a circle of radius 3")."""
    from agentslm.bench.systems import AgentslmSystem, decide
    from agentslm.step_types import ToolCall

    registry = ToolRegistry.from_openai(
        [
            {
                "type": "function",
                "function": {
                    "name": "circumference",
                    "description": "Circumference of a circle.",
                    "parameters": {
                        "type": "object",
                        "properties": {"radius": {"type": "integer"}, "units": {"type": "string"}},
                        "required": ["radius"],
                    },
                },
            }
        ]
    )
    tools = list(registry)
    call = ToolCall(name="circumference", arguments={"radius": 3, "units": "cm"})
    source = "What is the circumference of a circle of radius 3?"
    kept, refused = decide([call], [1.0], Gate(grounding=True), tools, source)
    assert kept == [] and refused and "units" in refused[0]
    kept, refused = decide([call], [1.0], Gate(grounding=True, grounding_scope="any"), tools, source)
    assert kept == [call] and refused == []
    invented = ToolCall(name="circumference", arguments={"radius": 7, "units": "cm"})  # no stated value at all
    assert decide([invented], [1.0], Gate(grounding=True, grounding_scope="any"), tools, source)[0] == []
    default = make_system("agentslm", embedded_model)
    assert isinstance(default, AgentslmSystem) and default.gate.grounding_scope == "every"  # the smollm profile
    scoped = make_system("agentslm", embedded_model, planner_policy={"grounding_scope": "any"})
    assert isinstance(scoped, AgentslmSystem) and scoped.gate.grounding_scope == "any"
