"""Distillation keeps a teacher's plan only when it verifies and agrees with a template's label."""

from __future__ import annotations

from agentslm.finetune.distill import distill_records
from agentslm.records import RecordCall, RecordTool, TrainingRecord
from agentslm.testing import ScriptedModel

WEATHER = RecordTool(
    name="get_forecast",
    description="Weather forecast for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
)


def _record(request: str, calls: list[RecordCall] | None) -> TrainingRecord:
    return TrainingRecord(
        role="planner",
        tools=[WEATHER],
        messages=[{"role": "user", "content": request}],
        target_calls=calls,
        source="synthetic",
        kind="single",
    )


def test_teacher_labels_are_kept_only_when_verified_grounded_and_agreeing() -> None:
    records = [
        _record("Forecast for Lisbon for 3 days", [RecordCall(name="get_forecast", arguments={"city": "Lisbon", "days": 3})]),
        _record("Forecast for Oslo", [RecordCall(name="get_forecast", arguments={"city": "Oslo"})]),
        _record("Forecast for Rome", [RecordCall(name="get_forecast", arguments={"city": "Rome"})]),
        _record("Forecast for Quito", [RecordCall(name="get_forecast", arguments={"city": "Quito"})]),
    ]
    teacher = ScriptedModel(
        plans=[
            [{"name": "get_forecast", "arguments": {"city": "Lisbon", "days": 3}}],  # agrees
            [{"name": "get_forecast", "arguments": {"city": "Bergen"}}],  # invented value: not grounded
            [{"name": "get_forecast", "arguments": {"city": "Rome", "days": 5}}],  # the planner drops the invented 5
            [{"name": "get_forecast", "arguments": {"city": "Quito", "days": 1}}],  # disagrees with the label
        ]
    )
    kept, stats = distill_records(records, teacher)
    assert stats.seen == 4 and stats.kept == len(kept) == 2 and dict(stats.outcomes) == {"agreed": 2, "disagreed": 2}
    assert all(r.source == "distilled" and r.meta["agreed_with_label"] is True for r in kept)
    assert [r.target_calls for r in kept] == [records[0].target_calls, records[2].target_calls]


def test_a_call_with_a_value_the_conversation_lacks_is_refused() -> None:
    from agentslm.finetune.distill import _problem
    from agentslm.registry import ToolRegistry

    tool = next(iter(ToolRegistry.from_openai([{"type": "function", "function": WEATHER.model_dump()}])))
    tools = {tool.name: tool}
    assert _problem([RecordCall(name="get_forecast", arguments={"city": "Bergen"})], tools, "Forecast for Oslo") == "ungrounded"
    assert _problem([RecordCall(name="get_forecast", arguments={"city": 3})], tools, "Forecast for 3") == "unverified"
    assert _problem([RecordCall(name="other", arguments={})], tools, "x") == "unverified"
    assert _problem([RecordCall(name="get_forecast", arguments={"city": "Oslo"})], tools, "Forecast for Oslo") is None


def test_unlabelled_and_escalation_records_take_the_teachers_plan() -> None:
    record = _record("Forecast for Lima", None).model_copy(update={"source": "escalation"})
    teacher = ScriptedModel(plans=[[{"name": "get_forecast", "arguments": {"city": "Lima"}}]])
    kept, stats = distill_records([record], teacher)
    assert [c.arguments for c in kept[0].target_calls or []] == [{"city": "Lima"}] and dict(stats.outcomes) == {"new": 1}
