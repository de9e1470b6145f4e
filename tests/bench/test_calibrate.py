from __future__ import annotations

from typing import Any

import pytest

from agentslm.bench.calibrate import auc, calibrate_records, perfect_router_accuracy
from agentslm.bench.systems import RoutedSystem, SystemOutput
from agentslm.errors import UserError
from agentslm.router import RoutingPolicy
from agentslm.step_types import ToolCall


def _slm(i: int, first: float, valid: bool, **extra: Any) -> dict[str, Any]:
    return {
        "category": "c",
        "id": str(i),
        "system": "agentslm",
        "valid": valid,
        "extra": {"signals": {"first_choice_probability": first}, **extra},
    }


def _llm(i: int, valid: bool) -> dict[str, Any]:
    return {"category": "c", "id": str(i), "system": "llm", "valid": valid}


def test_auc() -> None:
    assert auc([0.9, 0.8, 0.3, 0.2], [True, True, False, False]) == 1.0
    assert auc([0.5, 0.5], [True, False]) == 0.5
    assert auc([0.5], [True]) is None


def test_calibration_picks_the_best_point_within_the_budget() -> None:
    # 10 cases: the SLM is right when confident (>= 0.8), wrong below; the LLM is right on all but case 9
    records = [_slm(i, 0.95 - 0.05 * i if i < 6 else 0.4, valid=i < 6) for i in range(10)] + [_llm(i, i != 9) for i in range(10)]
    best, _, aucs = calibrate_records(records, max_escalation=0.4, signals=["first_choice", "combined"])
    assert aucs["first_choice"] == 1.0
    assert best.escalation_rate == pytest.approx(0.4) and best.combined_accuracy == pytest.approx(0.9)
    assert 0.4 < best.threshold <= 0.7 and best.slm_accuracy == 0.6 and best.llm_accuracy == 0.9
    # the 4 wrong cases tie at 0.4: within a 20 % budget none can be escalated
    tight, _, _ = calibrate_records(records, max_escalation=0.2, signals=["first_choice"])
    assert tight.escalation_rate == 0.0 and tight.combined_accuracy == pytest.approx(0.6)


def test_mean_token_signal_is_the_geometric_mean_token_probability() -> None:
    import math

    from agentslm.confidence import signal_values, step_confidence
    from agentslm.step_types import CallSignals

    values = signal_values(CallSignals(first_choice_probability=0.9, mean_logprob=math.log(0.6)))
    assert values["mean_token"] == pytest.approx(0.6) and values["combined"] == pytest.approx(0.9)  # not in the minimum
    assert signal_values(CallSignals())["mean_token"] == 1.0  # nothing free was chosen: certain
    assert step_confidence(CallSignals(mean_logprob=math.log(0.3)), signal="mean_token").score == pytest.approx(0.3)
    # calibration ranks it like any other signal
    records = [
        {
            "category": "c",
            "id": str(i),
            "system": "agentslm",
            "valid": i < 5,
            "extra": {"signals": {"mean_logprob": math.log(0.9 - 0.1 * i)}},
        }
        for i in range(8)
    ]
    best, _, aucs = calibrate_records(records, max_escalation=0.5, signals=["mean_token"])
    assert aucs["mean_token"] == 1.0 and best.escalation_rate == pytest.approx(3 / 8) and best.combined_accuracy == 1.0
    assert RoutingPolicy(signal="mean_token").signal == "mean_token"


def test_perfect_router_escalates_only_where_the_fallback_helps_within_the_budget() -> None:
    # SLM right on 0-3; LLM right on 0-1 and 4-7: cases 4-7 would help, a 20 % budget of 10 allows 2
    records = [_slm(i, 0.9, valid=i < 4) for i in range(10)] + [_llm(i, i < 2 or 4 <= i < 8) for i in range(10)]
    assert perfect_router_accuracy(records, max_escalation=0.2) == pytest.approx(0.6)
    assert perfect_router_accuracy(records, max_escalation=1.0) == pytest.approx(0.8)
    assert perfect_router_accuracy([_slm(0, 0.9, True)]) is None  # no fallback records


def test_refused_cases_always_escalate_and_a_budget_too_small_is_an_error() -> None:
    records = [_slm(i, 0.99, valid=False, grounding_refusals=["x: not grounded"]) for i in range(5)] + [_slm(9, 0.99, True)]
    with pytest.raises(UserError, match="raise --max-escalation"):
        calibrate_records(records, max_escalation=0.3)
    best, _, _ = calibrate_records(records, max_escalation=0.9)
    assert best.escalation_rate == pytest.approx(5 / 6) and best.llm_accuracy is None  # no llm records: assumed right


class _Fixed:
    def __init__(self, name: str, output: SystemOutput) -> None:
        self.name = name
        self.output = output
        self.runs = 0

    def run(self, messages: Any, tools: Any) -> SystemOutput:
        self.runs += 1
        return self.output


def test_routed_system_escalates_only_unsure_cases() -> None:
    sure = SystemOutput(
        calls=[ToolCall(name="a")],
        raw="",
        seconds=0.1,
        completion_tokens=3,
        extra={"signals": {"first_choice_probability": 0.95}},
    )
    unsure = SystemOutput(
        calls=[ToolCall(name="a")], raw="", seconds=0.1, completion_tokens=3, extra={"signals": {"first_choice_probability": 0.5}}
    )
    llm_out = SystemOutput(
        calls=[ToolCall(name="b")], raw="", seconds=2.0, completion_tokens=9, extra={"usage": {"completion_tokens": 9}}
    )
    llm = _Fixed("llm", llm_out)
    policy = RoutingPolicy(signal="first_choice", threshold=0.8)
    kept = RoutedSystem(_Fixed("agentslm", sure), llm, policy).run([{"role": "user", "content": "x"}], [object()])  # type: ignore[arg-type]
    assert kept.calls == sure.calls and kept.extra["outcome"] == "accepted" and llm.runs == 0
    routed = RoutedSystem(_Fixed("agentslm", unsure), llm, policy).run([{"role": "user", "content": "x"}], [object()])  # type: ignore[arg-type]
    assert routed.calls == llm_out.calls and routed.extra["outcome"] == "escalated" and llm.runs == 1
    assert routed.extra["llm_usage"] == {"completion_tokens": 9} and routed.seconds >= 2.0
