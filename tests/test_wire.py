from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from agentslm import AgentRun, Observation, ToolCall, Verdict
from agentslm.events import CallEvent, ResultEvent, VerdictEvent
from agentslm.wire import wire_schemas

ROOT = Path(__file__).resolve().parent.parent


def test_published_schemas_are_current() -> None:
    for filename, schema in wire_schemas().items():
        committed = json.loads((ROOT / "schemas" / filename).read_text())
        assert committed == json.loads(json.dumps(schema)), f"regenerate with: python -m agentslm.wire schemas ({filename})"


def test_an_agent_run_validates_against_its_published_schema() -> None:
    call = ToolCall(name="f", arguments={"a": 1}, raw='{"name":"f","arguments":{"a":1}}')
    run = AgentRun(
        run_id="r1",
        request="r",
        status="answered",
        answer="1",
        events=[
            CallEvent(run_id="r1", seq=0, task_id=1, call=call),
            VerdictEvent(run_id="r1", seq=1, task_id=1, tool="f", verdict=Verdict(approved=True)),
            ResultEvent(
                run_id="r1",
                seq=2,
                task_id=1,
                tool="f",
                observation=Observation(ok=True, text="1", value=object()),
                started=1.0,
                finished=2.0,
            ),
        ],
    )
    schema = json.loads((ROOT / "schemas" / "agent_run.schema.json").read_text())
    jsonschema.validate(json.loads(run.model_dump_json()), schema)
    assert AgentRun.model_validate_json(run.model_dump_json()).calls[0].name == "f"
