"""Held-out evaluation decodes later rounds on the prompt the record renders to, under the plan grammar."""

from __future__ import annotations

from typing import Any

from agentslm.finetune.evaluate import evaluate_records
from agentslm.records import RecordCall, RecordTool, TrainingRecord
from agentslm.testing import ScriptedModel

FIND = RecordTool(
    name="crm.find_customer",
    description="Find a customer by name.",
    parameters={"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
)
MAIL = RecordTool(
    name="mail.send",
    description="Send a message.",
    parameters={
        "type": "object",
        "properties": {"to": {"type": "string"}, "text": {"type": "string"}},
        "required": ["to", "text"],
    },
)


def _record(messages: list[dict[str, str]], calls: list[RecordCall], kind: str) -> TrainingRecord:
    return TrainingRecord(role="planner", tools=[FIND, MAIL], messages=messages, target_calls=calls, kind=kind)


def test_later_rounds_and_references_are_scored_on_the_rendered_prompt() -> None:
    request = {"role": "user", "content": "Tell Ana Reyes the parcel left"}
    first = _record(
        [request],
        [
            RecordCall(name="crm.find_customer", arguments={"name": "Ana Reyes"}),
            RecordCall(name="mail.send", arguments={"to": "$1.email", "text": "the parcel left"}),
        ],
        "dependent_first",
    )
    later = _record(
        [
            request,
            {
                "role": "assistant",
                "content": '<tool_call>[{"name": "crm.find_customer", "arguments": {"name": "Ana Reyes"}}]</tool_call>',
            },
            {"role": "tool", "content": '[1] crm.find_customer(name=\'Ana Reyes\') -> {"email": "ana@reyes.example"}'},
        ],
        [RecordCall(name="mail.send", arguments={"to": "ana@reyes.example", "text": "the parcel left"})],
        "dependent_next",
    )
    model = ScriptedModel(
        plans=[
            [call.model_dump() for call in first.target_calls or []],
            [{"name": "mail.send", "arguments": {"to": "ana@example.com", "text": "the parcel left"}}],  # a made-up address
        ]
    )
    result = evaluate_records(model, [first, later])  # type: ignore[arg-type]
    assert result.cases == 2 and result.exact == 1 and result.by_kind == {"dependent_first": [1, 1], "dependent_next": [0, 1]}
    seen: list[Any] = model.prompts[1]
    assert [m["role"] for m in seen] == ["system", "user", "assistant", "tool"]
    schema = model.schemas[0] or {}
    assert "prefixItems" in schema, "the plan grammar (with references), not the plain call list"
