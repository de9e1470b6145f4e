from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentslm.bench.bfcl_data import load_bfcl
from agentslm.finetune.dataset import (
    bfcl_contamination,
    check_no_bfcl,
    dedupe,
    from_agent_runs,
    from_openai_chat,
    from_sharegpt,
    split_records,
)
from agentslm.finetune.synth import load_catalog, synthesize
from agentslm.records import DatasetError, TrainingRecord

CATALOG = Path(__file__).resolve().parents[2] / "training" / "catalog"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_openai_chat_import(tmp_path: Path) -> None:
    example = {
        "tools": [WEATHER],
        "messages": [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "1", "name": "get_weather", "content": "-3 C, snow"},
            {"role": "assistant", "content": "It is -3 C and snowing in Oslo."},
            {"role": "user", "content": "Thanks! Tell me a joke."},
            {"role": "assistant", "content": "Why did the scarecrow win an award? ..."},
        ],
    }
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps(example) + "\n")
    records = from_openai_chat(path)
    assert [(r.role, r.kind) for r in records] == [("planner", "import"), ("summarizer", "import"), ("planner", "import")]
    first, summary, chat = records
    assert first.target_calls is not None and first.target_calls[0].arguments == {"city": "Oslo"}
    assert summary.target_text == "It is -3 C and snowing in Oslo."
    assert summary.messages[1] == {"role": "tool", "content": "get_weather -> -3 C, snow"}
    assert chat.target_calls == [] and chat.messages[-1]["content"] == "Thanks! Tell me a joke."
    assert chat.messages[1]["role"] == "assistant"  # the earlier call is part of the conversation

    bad = dict(
        example,
        messages=[
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"function": {"name": "get_weather", "arguments": '{"city": 5}'}}]},
        ],
    )
    path.write_text(json.dumps(example) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(DatasetError, match=r"chat.jsonl:2: target call 0 to 'get_weather' does not satisfy its schema"):
        from_openai_chat(path)


def test_sharegpt_hermes_and_glaive(tmp_path: Path) -> None:
    hermes = {
        "conversations": [
            {"from": "system", "value": f"You can call tools.\n<tools>\n{json.dumps(WEATHER['function'])}\n</tools>"},
            {"from": "human", "value": "Is it raining in Lima?"},
            {"from": "gpt", "value": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Lima"}}\n</tool_call>'},
            {"from": "tool", "value": '{"rain": false}'},
            {"from": "gpt", "value": "No rain in Lima right now."},
        ]
    }
    glaive = {
        "tools": json.dumps([WEATHER["function"]]),
        "conversations": [
            {"from": "human", "value": "Weather in Accra please"},
            {"from": "function_call", "value": '{"name": "get_weather", "arguments": "{\\"city\\": \\"Accra\\"}"}'},
            {"from": "observation", "value": "31 C"},
            {"from": "gpt", "value": "It's 31 C in Accra."},
        ],
    }
    path = tmp_path / "sg.json"
    path.write_text(json.dumps([hermes, glaive]))
    records = from_sharegpt(path)
    planners = [r for r in records if r.role == "planner"]
    assert [c.arguments for r in planners for c in r.target_calls or []] == [{"city": "Lima"}, {"city": "Accra"}]
    assert [r.target_text for r in records if r.role == "summarizer"] == ["No rain in Lima right now.", "It's 31 C in Accra."]

    path.write_text(
        json.dumps(
            [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "<tool_call>{oops</tool_call>"}]}]
        )
    )
    with pytest.raises(DatasetError, match="not JSON"):
        from_sharegpt(path)


def test_agent_runs_keep_only_verified_successful_calls(tmp_path: Path) -> None:
    from agentslm.agent import AgentRun
    from agentslm.events import CallEvent, PlanEvent, PlannedTask, ResultEvent, VerdictEvent
    from agentslm.step_types import Observation, ToolCall, Verdict

    def run(request: str, ok: bool, approved: bool) -> AgentRun:
        call = ToolCall(name="get_weather", arguments={"city": "Quito"})
        return AgentRun(
            run_id="r",
            request=request,
            status="answered",
            events=[
                PlanEvent(run_id="r", step=1, tasks=[PlannedTask(id=1, tool="get_weather", arguments={"city": "Quito"})]),
                CallEvent(run_id="r", task_id=1, call=call),
                VerdictEvent(run_id="r", task_id=1, tool="get_weather", verdict=Verdict(approved=approved, call=call)),
                *(
                    [
                        ResultEvent(
                            run_id="r",
                            task_id=1,
                            tool="get_weather",
                            observation=Observation(ok=ok, text="9 C"),
                            started=0.0,
                            finished=0.1,
                        )
                    ]
                    if approved
                    else []
                ),
            ],
        )

    path = tmp_path / "runs.jsonl"
    path.write_text(
        "\n".join(
            r.model_dump_json()
            for r in [run("Quito weather?", True, True), run("Quito now?", False, True), run("Quito again?", True, False)]
        )
        + "\n"
    )
    records = from_agent_runs(path, [WEATHER])
    assert [r.request() for r in records] == ["Quito weather?"]
    assert records[0].source == "trace"


def test_bfcl_questions_are_refused() -> None:
    question = load_bfcl("simple_python", limit=1)[0].messages[-1]["content"]
    leaked = TrainingRecord(role="planner", messages=[{"role": "user", "content": "Hey! " + question}], target_calls=[])
    hits = bfcl_contamination([leaked])
    assert len(hits) == 1 and "BFCL question" in hits[0][1]
    with pytest.raises(DatasetError, match="contain BFCL test questions"):
        check_no_bfcl([leaked])
    clean = synthesize(load_catalog([CATALOG]), 500, seed=0)
    assert bfcl_contamination(clean) == []


def test_dedupe_and_split() -> None:
    records = synthesize(load_catalog([CATALOG]), 200, seed=0)
    doubled = dedupe(records + records)
    assert len(doubled) == len(dedupe(records))
    train, val = split_records(doubled, 0.2, seed=1)
    assert len(val) == round(len(doubled) * 0.2) and not {r.id for r in train} & {r.id for r in val}
